// Package kafkatest gives tests a broker that speaks the Kafka protocol.
//
// When the environment variable FLINT_TEST_KAFKA is set to a comma-separated
// list of host:port addresses, tests use that broker (a real Kafka cluster,
// Redpanda, ...). Otherwise Start runs an in-process fake cluster from
// github.com/twmb/franz-go/pkg/kfake on 127.0.0.1 and closes it when the test
// ends, so no test is skipped for want of a server.
//
// Each test gets its own fake cluster: calling Start or Brokers again from the
// same test returns the cluster already started for it, while subtests get
// their own. Starting one takes about a millisecond.
//
// The fake cluster has one broker, creates 4 partitions for a topic created
// without a count, accepts group session timeouts down to 100ms so consumer
// groups converge fast, and does not create topics on first use (Flint's log
// creates them explicitly). Retention is never applied on a timer: a test
// applies it when it chooses with Cluster.ApplyRetention, so retention tests
// are deterministic.
package kafkatest

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EnvBrokers names the environment variable that points tests at an external
// broker: host:port addresses separated by commas.
const EnvBrokers = "FLINT_TEST_KAFKA"

// External reports whether tests run against the external broker named by
// FLINT_TEST_KAFKA rather than an in-process fake.
func External() bool { return os.Getenv(EnvBrokers) != "" }

// Cluster is a broker for one test.
type Cluster struct {
	// Addrs are the bootstrap addresses, host:port.
	Addrs []string
	fake  *kfake.Cluster // nil for an external broker
}

// Fake returns the in-process cluster, or nil when the test runs against an
// external broker.
func (c *Cluster) Fake() *kfake.Cluster { return c.fake }

// ApplyRetention makes the broker enforce retention.ms and retention.bytes
// on every topic now, and reports whether it could: an external broker
// applies retention on its own schedule (log.retention.check.interval.ms)
// and cannot be forced from a client.
func (c *Cluster) ApplyRetention() bool {
	if c.fake == nil {
		return false
	}
	c.fake.ApplyRetention()
	return true
}

var (
	mu      sync.Mutex
	running = map[testing.TB]*Cluster{}
)

// Start returns the broker for t: the external one when FLINT_TEST_KAFKA is
// set, otherwise a fake cluster started for t and closed by t.Cleanup.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if v := os.Getenv(EnvBrokers); v != "" {
		var addrs []string
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			t.Fatalf("kafkatest: %s=%q names no broker", EnvBrokers, v)
		}
		return &Cluster{Addrs: addrs}
	}

	mu.Lock()
	defer mu.Unlock()
	if c := running[t]; c != nil {
		return c
	}
	fake, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(4),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("kafkatest: start an in-process Kafka cluster: %v", err)
	}
	c := &Cluster{Addrs: fake.ListenAddrs(), fake: fake}
	running[t] = c
	t.Cleanup(func() {
		mu.Lock()
		delete(running, t)
		mu.Unlock()
		fake.Close()
	})
	return c
}

// Brokers returns the bootstrap addresses of the broker for t (see Start).
func Brokers(t testing.TB) []string {
	t.Helper()
	return Start(t).Addrs
}
