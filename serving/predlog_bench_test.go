//go:build unix

package serving

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/serving/predlog"
)

// BenchmarkPredictionLog is the prediction log's cost on predict
// throughput: two servers of the same model on loopback, one without and
// one with a prediction log on the embedded log (every request sampled,
// the worst case, or one in ten), driven in alternating rounds by the
// same load (benchClients keep-alive clients). It reports both request
// rates and %overhead = 100·(1 − with/without), and the records the
// log dropped.
// It also reports this process's CPU time per request in each (the
// servers' and the clients' both, the same for either: their difference is
// the log's) and %overhead-cpu = 100·(with/without − 1), which the load of
// the rest of a shared machine disturbs less; a logged round's CPU time
// runs until the writer has written every record of it (the writer drains
// its queue every benchFlush here).
//
//	go test ./serving -run '^$' -bench PredictionLog -benchtime 3000x -count 3
func BenchmarkPredictionLog(b *testing.B) {
	reg := newRegistry(b)
	publish(b, reg, "bench", benchModel().artifact(b))
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchClients, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	for _, sample := range []float64{1, 0.1} {
		for _, rows := range []int{1, 100} {
			b.Run(fmt.Sprintf("sample=%g/rows=%d", sample, rows), func(b *testing.B) {
				l, err := disk.Open(disk.Config{Dir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				pl, err := predlog.New(context.Background(), predlog.Config{Log: l, Topic: "predictions", Sample: sample, Logger: quiet,
					FlushInterval: benchFlush})
				if err != nil {
					b.Fatal(err)
				}
				plain := startServer(b, Config{Registry: reg, WatchInterval: models.DefaultWatchInterval, Logger: quiet})
				withLog := startServer(b, Config{Registry: reg, WatchInterval: models.DefaultWatchInterval, Logger: quiet, PredictionLog: pl})
				plain.waitReady(b)
				withLog.waitReady(b)
				body := benchBody(rows)
				var without, with loadResult
				var cpuWithout, cpuWith time.Duration
				written := pl.Collectors()[1].(*prometheus.CounterVec).WithLabelValues("written")
				logged := 0
				b.ResetTimer()
				for r := range benchRounds {
					n := b.N / benchRounds
					if r == 0 {
						n += b.N % benchRounds
					}
					if n == 0 {
						continue
					}
					t0 := cpuTime()
					without.add(load(b, client, plain.url+"/v1/models/bench/predict", body, n))
					t1 := cpuTime()
					with.add(load(b, client, withLog.url+"/v1/models/bench/predict", body, n))
					if sample == 1 { // every request is one record: wait for them all
						logged += n
						waitWritten(b, written, logged)
					}
					cpuWithout, cpuWith = cpuWithout+t1-t0, cpuWith+cpuTime()-t1
				}
				b.StopTimer()
				if err := pl.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(without.perSecond(), "plain-req/s")
				b.ReportMetric(with.perSecond(), "logged-req/s")
				b.ReportMetric(100*(1-with.perSecond()/without.perSecond()), "%overhead")
				b.ReportMetric(testutil.ToFloat64(pl.Collectors()[0]), "dropped")
				perWithout := cpuWithout.Seconds() / float64(without.requests) * 1e6
				perWith := cpuWith.Seconds() / float64(with.requests) * 1e6
				b.ReportMetric(perWithout, "plain-cpu-µs/req")
				b.ReportMetric(perWith, "logged-cpu-µs/req")
				b.ReportMetric(100*(perWith/perWithout-1), "%overhead-cpu")
			})
		}
	}
}

// benchFlush is the prediction log's FlushInterval in BenchmarkPredictionLog
// (the default is 100ms): a logged round waits for its records, and the
// shorter the wait the less of the process's background work (both
// servers' registry polls, the collector) it adds to the round's CPU
// time; more, smaller appends cost the log more, if anything.
const benchFlush = 10 * time.Millisecond

// waitWritten waits until the prediction log has written n records.
func waitWritten(b *testing.B, written prometheus.Counter, n int) {
	deadline := time.Now().Add(time.Minute)
	for int(testutil.ToFloat64(written)) < n {
		if time.Now().After(deadline) {
			b.Fatalf("the prediction log wrote %v of %d records in a minute", testutil.ToFloat64(written), n)
		}
		time.Sleep(time.Millisecond)
	}
}
