package jobs

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/models"
)

// BenchmarkTriggerToPublish measures the continuous-training loop on a
// small job (logistic regression on the newest 1000 records of one
// partition, warm-started, promoted against the version behind the alias
// on the newest 100): each iteration appends 100 records, which fires the
// records trigger, and waits for the new version. ms/fire-to-publish is
// the time from the trigger firing (the run queued) to the version
// published (its manifest entry); ms/append-to-publish adds the wait for
// the trigger's next check (TriggerPoll 5 ms here).
//
//	go test ./trainer/jobs -run '^$' -bench TriggerToPublish -benchtime 20x
func BenchmarkTriggerToPublish(b *testing.B) {
	ctx := context.Background()
	l, err := disk.Open(disk.Config{Dir: filepath.Join(b.TempDir(), "log"), Sync: disk.SyncUnsafeNever})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
		b.Fatal(err)
	}
	st := newJobStore(b)
	reg := models.NewRegistry(st)
	m, err := NewManager(ctx, ManagerConfig{Store: st, Registry: reg, Log: l, Logger: quietLogger(), TriggerPoll: 5 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if err := l.Append(ctx, "events", batch(1, 1000, 0, 0)); err != nil {
		b.Fatal(err)
	}
	spec := trainertest.LoopSpec("events", 100, 100)
	j, err := m.Submit(ctx, "job.yaml", []byte(spec))
	if err != nil {
		b.Fatal(err)
	}
	if j, err = m.Wait(ctx, j.ID); err != nil || j.State != Succeeded {
		b.Fatalf("first run: %s %s %v", j.State, j.Error, err)
	}
	var fire, total time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := l.Append(ctx, "events", batch(uint64(i+2), 100, 0, 0)); err != nil {
			b.Fatal(err)
		}
		var id string
		for id == "" || id == j.ID {
			ts := m.Triggers()
			if len(ts) == 1 {
				id = ts[0].LastRun
			}
			time.Sleep(time.Millisecond)
		}
		if j, err = m.Wait(ctx, id); err != nil || j.State != Succeeded {
			b.Fatalf("run %s: %s %s %v", id, j.State, j.Error, err)
		}
		man, err := reg.Describe(ctx, "clicks")
		if err != nil {
			b.Fatal(err)
		}
		v, ok := man.Version(j.Result.Version)
		if !ok {
			b.Fatalf("version %d is not in the manifest", j.Result.Version)
		}
		fire += v.Published.Sub(j.Submitted)
		total += v.Published.Sub(start)
	}
	b.ReportMetric(fire.Seconds()*1000/float64(b.N), "ms/fire-to-publish")
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/append-to-publish")
}
