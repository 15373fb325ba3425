package monitor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

// A version the monitor cannot measure (here one without a feature
// pipeline, as a model of pairs is) does not stop it: its rows are
// passed over and counted, and Run goes on.
func TestUnmeasurableVersionIsPassedOver(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	l, err := disk.Open(disk.Config{Dir: filepath.Join(dir, "log"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := local.New(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(st)
	if _, err := reg.Publish(ctx, "pairs", &models.Artifact{Algorithm: "als", Params: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	rec := `{"id":"r1","row":0,"time":"2026-12-07T10:00:00Z","model":"pairs","version":1,"fields":{"user":"u"},"prediction":{"value":1}}`
	if err := l.Append(ctx, "predictions", []log.Record{{Value: []byte(rec)}, {Value: []byte(rec)}}); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Log: l, Registry: reg, Model: "pairs", Predictions: "predictions", PollWait: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	waitFor(t, "the group to commit both records", func() bool {
		got, _ := l.Committed(ctx, "monitor.pairs", "predictions")
		return got[0] == 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run stopped on a version it cannot measure: %v", err)
	}
	if v := m.versions[1]; v == nil || v.err == nil {
		t.Fatalf("version 1 is kept as %+v; want it marked unmeasurable", v)
	}
	if n := testutil.ToFloat64(m.metrics.bad.WithLabelValues("predictions")); n != 2 {
		t.Errorf("flint_monitor_bad_records_total{topic=predictions} = %v; want the 2 rows passed over", n)
	}
}

// The monitor keeps the newest maxVersions versions loaded, so its memory
// stays flat under months of retraining.
func TestMonitorKeepsNewestVersions(t *testing.T) {
	m := &Monitor{versions: map[int]*version{}}
	for v := 1; v <= maxVersions+5; v++ {
		m.versions[v] = &version{}
		m.forgetOld()
	}
	if len(m.versions) != maxVersions {
		t.Fatalf("%d versions kept; want %d", len(m.versions), maxVersions)
	}
	for v := 6; v <= maxVersions+5; v++ {
		if m.versions[v] == nil {
			t.Errorf("version %d was dropped; want the newest %d kept", v, maxVersions)
		}
	}
}
