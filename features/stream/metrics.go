package stream

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a processor's Prometheus collectors, each labelled with the
// definition's name. Register them (Collectors) wherever metrics are
// served; the processor serves nothing itself.
type Metrics struct {
	// Events counts source records by outcome: applied, late (applied),
	// dropped (later than the lateness allows), skipped (already in a
	// restored state) and bad (not fitting the schema). Its rate is the
	// processor's events per second.
	Events *prometheus.CounterVec
	// Published counts records appended, by topic.
	Published *prometheus.CounterVec
	// Commits counts synced store commits, one per poll that held records.
	Commits prometheus.Counter
	// Keys counts keys this process added to the store.
	Keys prometheus.Counter
	// Lag is how many source records the processor's partitions hold
	// beyond what it has applied, measured at most once a second.
	Lag prometheus.Gauge
	// StateBytes is the store's size on disk.
	StateBytes prometheus.GaugeFunc
}

func newMetrics(def string, s *Store) *Metrics {
	l := prometheus.Labels{"definition": def}
	return &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flint_features_events_total",
			Help: "Source records the features processor handled, by outcome.", ConstLabels: l}, []string{"outcome"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flint_features_published_total",
			Help: "Records the features processor appended, by topic.", ConstLabels: l}, []string{"topic"}),
		Commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "flint_features_commits_total",
			Help: "Synced state-store commits of the features processor.", ConstLabels: l}),
		Keys: prometheus.NewCounter(prometheus.CounterOpts{Name: "flint_features_new_keys_total",
			Help: "Keys the features processor added to its state store.", ConstLabels: l}),
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flint_features_lag_records",
			Help: "Source records not yet applied in the processor's partitions.", ConstLabels: l}),
		StateBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flint_features_state_bytes",
			Help: "The features processor's state store size on disk.", ConstLabels: l},
			func() float64 { return float64(s.DiskBytes()) }),
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Events, m.Published, m.Commits, m.Keys, m.Lag, m.StateBytes}
}

// measureLag sets the lag gauge, at most once a second.
func (p *Processor) measureLag(ctx context.Context) {
	if time.Since(p.lastLag) < time.Second {
		return
	}
	p.lastLag = time.Now()
	lag, err := p.lag(ctx)
	if err == nil {
		p.metrics.Lag.Set(float64(lag))
	}
}

// lag returns how many source records the processor's partitions hold
// beyond what it has applied.
func (p *Processor) lag(ctx context.Context) (int64, error) {
	var lag int64
	for q, o := range p.owned {
		pi, err := p.cfg.Log.Offsets(ctx, p.input, q)
		if err != nil {
			return 0, err
		}
		lag += max(pi.Latest-o.next, 0)
	}
	return lag, nil
}
