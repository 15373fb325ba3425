package jobs

import (
	"github.com/prometheus/client_golang/prometheus"
)

// managerMetrics are a Manager's Prometheus metrics; Manager.Collector
// exposes them.
type managerMetrics struct {
	jobs       *prometheus.Desc // by state, counted when collected
	attempts   prometheus.Counter
	retries    prometheus.Counter
	iterations prometheus.Counter
	duration   *prometheus.HistogramVec // by final state
}

func newManagerMetrics() *managerMetrics {
	return &managerMetrics{
		jobs: prometheus.NewDesc("flint_trainer_jobs", "Jobs the driver knows, by state (queued, running, succeeded, failed, canceled).",
			[]string{"state"}, nil),
		attempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_trainer_job_attempts_total",
			Help: "Job attempts started: first runs, resumptions after a driver restart and retries.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_trainer_job_retries_total",
			Help: "Job attempts started again after a transient failure (the cluster or the log unavailable).",
		}),
		iterations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_trainer_iterations_total",
			Help: "Optimiser iterations reported by all jobs (rate() is the iteration rate).",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flint_trainer_job_duration_seconds",
			Help:    "Time from a job's submission to its end, by final state.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16), // 1 s to 9 h
		}, []string{"state"}),
	}
}

// Collector returns the manager's Prometheus metrics: jobs by state
// (flint_trainer_jobs), attempts and retries started, optimiser iterations
// (flint_trainer_iterations_total) and job durations by final state.
// Register it with a registry that the job API serves (APIConfig.Metrics).
func (m *Manager) Collector() prometheus.Collector { return managerCollector{m} }

type managerCollector struct{ m *Manager }

func (c managerCollector) Describe(ch chan<- *prometheus.Desc) {
	mm := c.m.metrics
	ch <- mm.jobs
	mm.attempts.Describe(ch)
	mm.retries.Describe(ch)
	mm.iterations.Describe(ch)
	mm.duration.Describe(ch)
}

func (c managerCollector) Collect(ch chan<- prometheus.Metric) {
	mm := c.m.metrics
	counts := map[State]int{Queued: 0, Running: 0, Succeeded: 0, Failed: 0, Canceled: 0}
	c.m.mu.Lock()
	for _, e := range c.m.jobs {
		counts[e.job.State]++
	}
	c.m.mu.Unlock()
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(mm.jobs, prometheus.GaugeValue, float64(n), string(st))
	}
	mm.attempts.Collect(ch)
	mm.retries.Collect(ch)
	mm.iterations.Collect(ch)
	mm.duration.Collect(ch)
}
