package monitor

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a monitor's Prometheus metrics.
type Metrics struct {
	psi      *prometheus.GaugeVec
	psiMax   *prometheus.GaugeVec
	accuracy *prometheus.GaugeVec
	rmse     *prometheus.GaugeVec
	rows     *prometheus.CounterVec
	bad      *prometheus.CounterVec
	fired    *prometheus.CounterVec
}

func newMetrics() *Metrics {
	return &Metrics{
		psi: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flint_monitor_psi",
			Help: "Population stability index of a feature over the last window of served rows, against the version's training profile."},
			[]string{"model", "version", "feature"}),
		psiMax: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flint_monitor_psi_max",
			Help: "The largest feature PSI of the last window of served rows."}, []string{"model", "version"}),
		accuracy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flint_monitor_accuracy",
			Help: "Share of the last window of labelled rows whose predicted class was the label."}, []string{"model", "version"}),
		rmse: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flint_monitor_rmse",
			Help: "Root mean squared error of the last window of labelled rows."}, []string{"model", "version"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flint_monitor_rows_total",
			Help: "Rows the monitor counted, served (drift) or labeled (quality)."}, []string{"model", "version", "kind"}),
		bad: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flint_monitor_bad_records_total",
			Help: "Records the monitor passed over because it could not read them, by topic."}, []string{"topic"}),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flint_monitor_drift_actions_total",
			Help: "Drift readings past the threshold that the monitor acted on (fired the retraining trigger)."}, []string{"model"}),
	}
}

// Collectors are the metrics, for a registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.psi, m.psiMax, m.accuracy, m.rmse, m.rows, m.bad, m.fired}
}
