package serving

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
)

// benchFeatures is the width of the benchmark model.
const benchFeatures = 100

// benchModel is a logistic regression on 100 standardised numeric
// features, fitted on 500 synthetic rows.
var benchModel = sync.OnceValue(func() *fitted {
	var fields []features.Field
	var names []string
	for i := range benchFeatures {
		names = append(names, fmt.Sprintf("f%d", i))
		fields = append(fields, features.Field{Name: names[i], Type: features.Numeric})
	}
	fields = append(fields, features.Field{Name: "label", Type: features.Numeric})
	yes := true
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]map[string]any, 500)
	for i := range recs {
		r, s := map[string]any{}, 0.0
		for j, n := range names {
			v := rng.NormFloat64()
			r[n] = v
			if j%3 == 0 {
				s += v
			}
		}
		r["label"] = map[bool]float64{true: 1, false: 0}[s+rng.NormFloat64() > 0]
		recs[i] = r
	}
	return fit(panicTB{}, features.Schema{Fields: fields, Label: "label"},
		[]features.TransformSpec{{Type: "standard_scaler", Inputs: names, Output: "scaled", WithMean: &yes}}, recs,
		func(ctx context.Context, e *cluster.Engine, ds *cluster.Dataset) (ml.Model, error) {
			return ml.LogisticRegression{RegParam: 0.01}.Fit(ctx, e, ds)
		})
})

// benchBody is a native request of n rows of the benchmark model.
func benchBody(n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	var b bytes.Buffer
	b.WriteString(`{"rows": [`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		for j := range benchFeatures {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"f%d": %.6f`, j, rng.NormFloat64())
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// loadResult is what one load run measured.
type loadResult struct {
	elapsed  time.Duration
	requests int
	lat      []time.Duration
}

func (r *loadResult) add(o loadResult) {
	r.elapsed += o.elapsed
	r.requests += o.requests
	r.lat = append(r.lat, o.lat...)
}

// benchRounds is how many times BenchmarkServe alternates between the
// server and the floor.
const benchRounds = 8

func (r loadResult) perSecond() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// quantile is the q-quantile of the latencies, which must be sorted.
func (r loadResult) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))]
}

// benchClients is how many client goroutines the load generator runs.
const benchClients = 8

// load sends n POSTs of body to url from benchClients goroutines over
// keep-alive connections, and times them.
func load(b *testing.B, client *http.Client, url string, body []byte, n int) loadResult {
	var next atomic.Int64
	lats := make([][]time.Duration, benchClients)
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := range benchClients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Store(fmt.Sprintf("status %d %v", resp.StatusCode, err))
					return
				}
				lats[c] = append(lats[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	r := loadResult{elapsed: time.Since(start), requests: n}
	if f := failed.Load(); f != nil {
		b.Fatalf("load on %s: %v", url, f)
	}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	return r
}

// floorServer is a bare echo server that reads the request and answers
// body: what serving costs without the model.
func floorServer(b testing.TB, body []byte) string { return spinServer(b, body, 0) }

// spinServer is floorServer whose handler also keeps its CPU busy for
// spin per request: a handler of known cost beside the bare one.
func spinServer(b testing.TB, body []byte, spin time.Duration) string {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/v1/models/:model/predict", func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		if spin > 0 {
			for start := time.Now(); time.Since(start) < spin; {
			}
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// BenchmarkServe drives the real server on loopback with benchClients
// keep-alive clients: single-row predictions (req/s, p50, p99) and
// 1000-row batches (rows/s) of a 100-feature logistic regression, and the
// same load against a bare echo handler that returns a fixed body (the
// floor). %floor is the server's request rate as a share of the floor's.
// The access log is on for every request (JSON, to io.Discard).
//
//	go test ./serving -run '^$' -bench Serve -benchtime 2s -count 6 | tee new.txt; benchstat old.txt new.txt
func BenchmarkServe(b *testing.B) {
	reg := newRegistry(b)
	publish(b, reg, "bench", benchModel().artifact(b))
	ts := startServer(b, Config{Registry: reg, WatchInterval: models.DefaultWatchInterval, AccessLog: 1, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	ts.waitReady(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)

	for _, rows := range []int{1, 1000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			body := benchBody(rows)
			code, resp := ts.do(b, "POST", "/v1/models/bench/predict", string(body))
			if code != http.StatusOK || !strings.Contains(string(resp), `"version":1`) {
				b.Fatalf("predict: %d %.200s", code, resp)
			}
			floor := floorServer(b, resp) + "/v1/models/bench/predict"
			b.SetBytes(int64(len(body)))
			// The two loads alternate in rounds, so that a change in what
			// else the machine runs hits both alike.
			var srv, flr loadResult
			b.ResetTimer()
			for r := range benchRounds {
				n := b.N / benchRounds
				if r == 0 {
					n += b.N % benchRounds
				}
				if n == 0 {
					continue
				}
				b.StartTimer()
				srv.add(load(b, client, ts.url+"/v1/models/bench/predict", body, n))
				b.StopTimer()
				flr.add(load(b, client, floor, body, n))
			}
			slices.Sort(srv.lat)
			b.ReportMetric(srv.perSecond(), "req/s")
			b.ReportMetric(float64(srv.quantile(0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(srv.quantile(0.99).Microseconds()), "p99-µs")
			b.ReportMetric(flr.perSecond(), "floor-req/s")
			b.ReportMetric(100*srv.perSecond()/flr.perSecond(), "%floor")
			if rows > 1 {
				b.ReportMetric(srv.perSecond()*float64(rows), "rows/s")
			}
		})
	}
}

// BenchmarkDecodeNative is the server's work on a body without HTTP: rows
// of 100 features parsed, transformed, predicted and encoded. read=numbers
// is the path of a model whose pipeline reads only numbers (readNumbers),
// read=values the general one (readRow, into features.Values), on the
// same bodies.
//
//	go test ./serving -run '^$' -bench DecodeNative -benchmem
func BenchmarkDecodeNative(b *testing.B) {
	lm, err := newLoadedModel(defaultAdapters(), "bench", modelsVersion1, benchModel().artifact(b))
	if err != nil {
		b.Fatal(err)
	}
	if !lm.numeric {
		b.Fatal("the benchmark model does not read its rows as numbers")
	}
	for _, rows := range []int{1, 1000} {
		for _, numeric := range []bool{true, false} {
			read := map[bool]string{true: "numbers", false: "values"}[numeric]
			b.Run(fmt.Sprintf("rows=%d/read=%s", rows, read), func(b *testing.B) {
				lm.numeric = numeric
				defer func() { lm.numeric = true }()
				body := benchBody(rows)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					w := lm.getWorker()
					if err := lm.decodeNative(context.Background(), w, body, 10_000); err != nil {
						b.Fatal(err)
					}
					if _, err := lm.encodeNative(w); err != nil {
						b.Fatal(err)
					}
					lm.putWorker(w)
				}
				b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

var modelsVersion1 = models.VersionInfo{Version: 1}
