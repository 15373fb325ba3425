package kafka

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/kafka/kafkatest"
	"github.com/flintml/flint/log/logtest"
)

// testConfig is a Config for tests: group timings short enough that
// rebalances take a fraction of a second on the fake broker. A real broker
// refuses session timeouts under 6s by default.
func testConfig(brokers []string) Config {
	cfg := Config{
		Brokers:           brokers,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    3 * time.Second,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if kafkatest.External() {
		cfg.HeartbeatInterval = time.Second
		cfg.SessionTimeout = 6 * time.Second
	}
	return cfg
}

// openTest opens a log on brokers and closes it when the test ends.
func openTest(t testing.TB, cfg Config) *Log {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", cfg.Brokers, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	clusters := map[log.Log]*kafkatest.Cluster{} // which broker each log talks to
	open := func(t *testing.T, c *kafkatest.Cluster) log.Log {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		l, err := New(ctx, testConfig(c.Addrs))
		if err != nil {
			t.Fatalf("New(%v): %v", c.Addrs, err)
		}
		mu.Lock()
		clusters[l] = c
		mu.Unlock()
		return l
	}
	cluster := func(t *testing.T, l log.Log) *kafkatest.Cluster {
		mu.Lock()
		defer mu.Unlock()
		c := clusters[l]
		if c == nil {
			t.Fatalf("log %p was not opened by this harness", l)
		}
		return c
	}
	h := logtest.Harness{
		Open: func(t *testing.T) log.Log { return open(t, kafkatest.Start(t)) },
		Reopen: func(t *testing.T, l log.Log) log.Log {
			c := cluster(t, l)
			if err := l.Close(); err != nil {
				t.Fatalf("Close before reopening: %v", err)
			}
			return open(t, c)
		},
		EnforceRetention: func(t *testing.T, l log.Log) {
			if !cluster(t, l).ApplyRetention() {
				t.Fatal("the broker cannot be made to apply retention")
			}
		},
	}
	if kafkatest.External() {
		h.EnforceRetention = nil
		h.NoRetentionReason = "a real Kafka broker applies retention on its own schedule (log.retention.check.interval.ms), which a client cannot trigger"
	}
	logtest.Run(t, h)
}
