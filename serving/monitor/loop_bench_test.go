package monitor

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/models/regevents"
	"github.com/flintml/flint/serving"
	"github.com/flintml/flint/trainer/jobs"
)

// BenchmarkTriggerToServed is the continuous-training loop's latency as a
// user sees it: from 100 new records landing in a triggered job's source
// (its records trigger) to a server answering with the version the run
// published (its latest). The job is feedbackJob's without the promotion
// (logistic regression on the newest 1000 records, warm-started); the
// driver side serves its registry's changes as an
// event stream (flint driver --registry-events) and the server follows it
// (flint serve --watch-url), polling the store only once an hour. All on
// this machine: the embedded log, a local model store, loopback HTTP.
//
//	go test ./serving/monitor -run '^$' -bench TriggerToServed -benchtime 20x
func BenchmarkTriggerToServed(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	l, err := disk.Open(disk.Config{Dir: filepath.Join(dir, "log"), Logger: quiet, Sync: disk.SyncUnsafeNever})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "train", log.TopicConfig{Partitions: 1}); err != nil {
		b.Fatal(err)
	}
	st, err := local.New(filepath.Join(dir, "models"))
	if err != nil {
		b.Fatal(err)
	}
	reg := models.NewRegistry(st)
	events := httptest.NewServer(regevents.NewHub(reg))
	b.Cleanup(events.Close) // after the server's shutdown (cleanups run last first): Close waits for its streams
	m, err := jobs.NewManager(ctx, jobs.ManagerConfig{Store: st, Registry: reg, Log: l, TriggerPoll: 5 * time.Millisecond, Logger: quiet, FlintVersion: "test"})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	r := rand.New(rand.NewPCG(7, 8))
	labelled := func(n int, shift float64) []log.Record {
		rows, labels := trainertest.Clicks(r, n, shift, 0)
		recs := make([]log.Record, n)
		for i, row := range rows {
			row["y"] = labels[i]
			recs[i].Value, _ = json.Marshal(row)
		}
		return recs
	}
	if err := l.Append(ctx, "train", labelled(1000, 0)); err != nil {
		b.Fatal(err)
	}
	spec := []byte(trainertest.LoopSpec("train", 100, 0))
	j, err := m.Submit(ctx, "job.yaml", spec)
	if err != nil {
		b.Fatal(err)
	}
	if j, err = m.Wait(ctx, j.ID); err != nil || j.State != jobs.Succeeded {
		b.Fatalf("the first run: %+v %v", j, err)
	}

	reader, err := local.New(filepath.Join(dir, "models"))
	if err != nil {
		b.Fatal(err)
	}
	_, base := serve(b, serving.Config{Registry: models.NewRegistry(reader), Logger: quiet, WatchInterval: time.Hour, WatchURL: events.URL})
	s := loopServer{t: b, base: base}
	row := []map[string]any{{"x1": 0.1, "x2": 0.2}}
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		recs := labelled(100, 0.01*float64(i))
		start := time.Now()
		if err := l.Append(ctx, "train", recs); err != nil {
			b.Fatal(err)
		}
		want := i + 2
		deadline := time.Now().Add(time.Minute)
		for {
			if v, _ := s.predict(row); v == want {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("version %d not served within a minute", want)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/records-to-served")
}
