package online

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkRunner measures records/s through the whole runner on the
// embedded log: poll, JSON decode, the fitted pipeline (a scaler and a
// one-hot encoder), the streaming model's updates in batches of 500, and
// the publish of a version to a local store (one at the end of each pass
// over the 20 000 records). Each pass is a new model in a new group.
//
//	go test ./trainer/online -run '^$' -bench Runner -benchtime 5x
func BenchmarkRunner(b *testing.B) {
	const n = 20000
	for _, tc := range []struct{ name, algo, label string }{
		{"kmeans", "streaming_kmeans: {k: 5}", "y"},
		{"linear", "streaming_linear: {}", "y"},
		{"logistic", "streaming_logistic: {}", "buy"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b)
			e.appendRecords(b, "events", rand.New(rand.NewPCG(1, 1)), n)
			i := 0
			for b.Loop() {
				i++
				spec := mustSpec(b, fmt.Sprintf(specHead, fmt.Sprintf("m%d", i), "events", tc.label, tc.algo))
				spec.Batch, spec.FitRecords, spec.Publish.Records = 500, 1000, n
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() {
					done <- Run(ctx, spec, Options{Log: e.log, Registry: e.reg, PollWait: 10 * time.Millisecond,
						OnPublish: func(Published) { cancel() }})
				}()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "records/s")
		})
	}
}
