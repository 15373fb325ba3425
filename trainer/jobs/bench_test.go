package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/trainer"
)

// BenchmarkJobOverhead measures what a long-lived Manager adds to a small
// job: the time from Submit to the job's first optimiser iteration (the
// record written, the spec parsed, the source planned, the transforms
// fitted, the rows cached), reported as ms/first-iter.
//
//	go test ./trainer/jobs -run '^$' -bench JobOverhead -benchtime 20x
func BenchmarkJobOverhead(b *testing.B) {
	eng := cluster.NewEngine(cluster.Config{Workers: 2, Logger: quietLogger()})
	defer eng.Close()
	first := make(chan time.Time, 1)
	m, err := NewManager(context.Background(), ManagerConfig{Store: newJobStore(b), Cluster: eng, Logger: quietLogger(),
		Observe: func(string) trainer.Observer {
			var once sync.Once
			return iterHook(func(int, ml.Progress) { once.Do(func() { first <- time.Now() }) })
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	spec := []byte(jobSpec("overhead", clicksCSV(b)))
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		j, err := m.Submit(ctx, "job.yaml", spec)
		if err != nil {
			b.Fatal(err)
		}
		total += (<-first).Sub(start)
		if j, err = m.Wait(ctx, j.ID); err != nil || j.State != Succeeded {
			b.Fatalf("job %s: %s %s %v", j.ID, j.State, j.Error, err)
		}
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/first-iter")
}
