package remote

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/cluster"
)

// driverMetrics are a Driver's Prometheus metrics. Counters count events;
// the membership gauges are read from the driver when gathered.
//
// Per-worker series carry the worker's id (w1, w2, …) and name, and exist
// while the worker is listed in Members: dead workers drop out after
// Config.DeadGrace, so a long-running driver's series do not grow without
// bound.
type driverMetrics struct {
	tasks       *prometheus.CounterVec // task, outcome
	retries     prometheus.Counter
	losses      *prometheus.CounterVec // reason
	authRefused prometheus.Counter

	workers *prometheus.Desc // state
	cached  *prometheus.Desc // worker, name
	limit   *prometheus.Desc // worker, name
	heap    *prometheus.Desc // worker, name
}

func newDriverMetrics() *driverMetrics {
	m := &driverMetrics{
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flint_cluster_tasks_total",
			Help: `Tasks and scans run on the workers, by task name and outcome: "ok", "error", "unavailable" (a transient failure) or "canceled".`,
		}, []string{"task", "outcome"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_cluster_partition_retries_total",
			Help: "Partitions (and scanned sources) run or loaded again on another worker after their worker was lost.",
		}),
		losses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flint_cluster_worker_losses_total",
			Help: `Workers declared dead, by reason: "heartbeat" (heartbeats stopped), "connection" (unreachable, or registered again) or "left" (stopped and said so).`,
		}, []string{"reason"}),
		authRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_cluster_auth_refused_total",
			Help: "Calls to the driver refused because the shared secret was missing or did not match.",
		}),
		workers: prometheus.NewDesc("flint_cluster_workers",
			`Workers the driver lists, by state: "live", or "dead" (until Config.DeadGrace has passed).`, []string{"state"}, nil),
		cached: prometheus.NewDesc("flint_cluster_worker_cached_bytes",
			"Bytes of partitions a worker reported caching (0 once dead).", []string{"worker", "name"}, nil),
		limit: prometheus.NewDesc("flint_cluster_worker_memory_limit_bytes",
			"A worker's bound on cached bytes; 0 means none.", []string{"worker", "name"}, nil),
		heap: prometheus.NewDesc("flint_cluster_worker_heap_live_bytes",
			"A worker process's live heap as of its last garbage collection (0 once dead): flat across jobs when nothing leaks.", []string{"worker", "name"}, nil),
	}
	for _, r := range []string{lossHeartbeat, lossConnection, lossLeft} {
		m.losses.WithLabelValues(r)
	}
	return m
}

// task counts a task or scan by its outcome.
func (m *driverMetrics) task(name string, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		outcome = "canceled"
	case errors.Is(err, cluster.ErrUnavailable):
		outcome = "unavailable"
	default:
		outcome = "error"
	}
	m.tasks.WithLabelValues(name, outcome).Inc()
}

// Collector returns the driver's Prometheus metrics, to register in the
// registry that serves /metrics: flint_cluster_workers{state},
// flint_cluster_worker_cached_bytes and _memory_limit_bytes{worker,name},
// flint_cluster_tasks_total{task,outcome},
// flint_cluster_partition_retries_total,
// flint_cluster_worker_losses_total{reason} and
// flint_cluster_auth_refused_total.
func (d *Driver) Collector() prometheus.Collector { return driverCollector{d} }

type driverCollector struct{ d *Driver }

func (c driverCollector) Describe(ch chan<- *prometheus.Desc) {
	m := c.d.metrics
	m.tasks.Describe(ch)
	m.retries.Describe(ch)
	m.losses.Describe(ch)
	m.authRefused.Describe(ch)
	ch <- m.workers
	ch <- m.cached
	ch <- m.limit
	ch <- m.heap
}

func (c driverCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.d.metrics
	m.tasks.Collect(ch)
	m.retries.Collect(ch)
	m.losses.Collect(ch)
	m.authRefused.Collect(ch)
	var live, dead int
	for _, w := range c.d.Members() {
		if w.Alive {
			live++
		} else {
			dead++
		}
		ch <- prometheus.MustNewConstMetric(m.cached, prometheus.GaugeValue, float64(w.CachedBytes), w.ID, w.Name)
		ch <- prometheus.MustNewConstMetric(m.limit, prometheus.GaugeValue, float64(w.MemoryLimit), w.ID, w.Name)
		ch <- prometheus.MustNewConstMetric(m.heap, prometheus.GaugeValue, float64(w.HeapLiveBytes), w.ID, w.Name)
	}
	ch <- prometheus.MustNewConstMetric(m.workers, prometheus.GaugeValue, float64(live), "live")
	ch <- prometheus.MustNewConstMetric(m.workers, prometheus.GaugeValue, float64(dead), "dead")
}
