package serving

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/serving/predlog"
)

// BenchmarkPredictionLog is the prediction log's cost on predict
// throughput: two servers of the same model on loopback, one without and
// one with a prediction log on the embedded log (every request sampled,
// the worst case, or one in ten), driven in alternating rounds by the
// same load (benchClients keep-alive clients). It reports both request
// rates and %overhead = 100·(1 − with/without), and the records the
// log dropped.
//
//	go test ./serving -run '^$' -bench PredictionLog -benchtime 4000x -count 3
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
				pl, err := predlog.New(context.Background(), predlog.Config{Log: l, Topic: "predictions", Sample: sample, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				plain := startServer(b, Config{Registry: reg, Logger: quiet})
				logged := startServer(b, Config{Registry: reg, Logger: quiet, PredictionLog: pl})
				plain.waitReady(b)
				logged.waitReady(b)
				body := benchBody(rows)
				var without, with loadResult
				b.ResetTimer()
				for r := range benchRounds {
					n := b.N / benchRounds
					if r == 0 {
						n += b.N % benchRounds
					}
					if n == 0 {
						continue
					}
					without.add(load(b, client, plain.url+"/v1/models/bench/predict", body, n))
					with.add(load(b, client, logged.url+"/v1/models/bench/predict", body, n))
				}
				b.StopTimer()
				if err := pl.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(without.perSecond(), "plain-req/s")
				b.ReportMetric(with.perSecond(), "logged-req/s")
				b.ReportMetric(100*(1-with.perSecond()/without.perSecond()), "%overhead")
				b.ReportMetric(testutil.ToFloat64(pl.Collectors()[0]), "dropped")
			})
		}
	}
}
