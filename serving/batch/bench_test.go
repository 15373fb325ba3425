package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/serving"
)

// BenchmarkPredict scores 100 000 CSV rows (the clicks file 100 times)
// through the fitted pipeline and a logistic model on an in-process engine
// of 2 workers, 4 partitions: rows/s, beside the server's (go test
// ./serving -run '^$' -bench Serve).
func BenchmarkPredict(b *testing.B) {
	t := &testing.T{}
	art, csv := trained(t)
	if t.Failed() {
		b.Fatal("training the benchmark's model failed")
	}
	data, err := os.ReadFile(csv)
	if err != nil {
		b.Fatal(err)
	}
	head, body, _ := strings.Cut(string(data), "\n")
	big := filepath.Join(b.TempDir(), "big.csv")
	if err := os.WriteFile(big, []byte(head+"\n"+strings.Repeat(body, 100)), 0o644); err != nil {
		b.Fatal(err)
	}
	rows := 0
	b.ResetTimer()
	for range b.N {
		res, err := predict(t, 2, art, []string{big}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPredictBesideServer scores the same 100 000 rows with the same
// model twice in each round: as a batch (flint predict: the CSV file on an
// in-process engine of 2 workers, 4 partitions, the lines handed on and
// dropped) and through the server
// (flint serve: the rows as JSON, 1000 to a request, from 2 keep-alive
// clients on loopback). It reports both rates and the batch's as a
// multiple of the server's.
//
//	go test ./serving/batch -run '^$' -bench BesideServer -benchtime 3x
func BenchmarkPredictBesideServer(b *testing.B) {
	t := &testing.T{}
	art, csv := trained(t)
	if t.Failed() {
		b.Fatal("training the benchmark's model failed")
	}
	data, err := os.ReadFile(csv)
	if err != nil {
		b.Fatal(err)
	}
	head, body, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	big := filepath.Join(b.TempDir(), "big.csv")
	if err := os.WriteFile(big, []byte(head+"\n"+strings.Repeat(body+"\n", 100)), 0o644); err != nil {
		b.Fatal(err)
	}
	// The same 1000 rows as one JSON request body, sent 100 times.
	names := strings.Split(head, ",")
	var req bytes.Buffer
	req.WriteString(`{"rows":[`)
	for i, line := range strings.Split(body, "\n") {
		if i > 0 {
			req.WriteByte(',')
		}
		req.WriteByte('{')
		for k, cell := range strings.Split(line, ",") {
			if k > 0 {
				req.WriteByte(',')
			}
			fmt.Fprintf(&req, "%q:%s", names[k], cell)
		}
		req.WriteByte('}')
	}
	req.WriteString(`]}`)
	url := startPredictServer(b, art) + "/v1/models/clicks/predict"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}}
	defer client.CloseIdleConnections()

	var batchRows, serverRows int
	var batchTime, serverTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res, err := predictDiscard(b, 2, art, []string{big})
		if err != nil {
			b.Fatal(err)
		}
		batchTime += time.Since(start)
		batchRows += res.Rows

		start = time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for c := range 2 {
			wg.Go(func() {
				for range 50 {
					resp, err := client.Post(url, "application/json", bytes.NewReader(req.Bytes()))
					if err != nil {
						errs <- err
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("client %d: predict answered %s", c, resp.Status)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		serverTime += time.Since(start)
		serverRows += 100 * 1000
	}
	batch := float64(batchRows) / batchTime.Seconds()
	server := float64(serverRows) / serverTime.Seconds()
	b.ReportMetric(batch, "batch-rows/s")
	b.ReportMetric(server, "server-rows/s")
	b.ReportMetric(batch/server, "batch/server")
}

// predictDiscard scores files as flint predict does (PredictTo, the lines
// handed on a wave at a time), dropping the lines as the server benchmark's
// clients drop the answers.
func predictDiscard(b *testing.B, workers int, art *models.Artifact, files []string) (*Result, error) {
	b.Helper()
	e := cluster.NewEngine(cluster.Config{Workers: workers})
	defer e.Close()
	sources, err := cluster.PlanFiles(files, cluster.FileOptions{Format: cluster.Format{Header: true}, Partitions: 4})
	if err != nil {
		b.Fatal(err)
	}
	return PredictTo(context.Background(), e, nil, art, sources, Options{}, func([]byte) error { return nil })
}

// startPredictServer serves art from a registry of its own on loopback and
// returns the server's URL once the model is loaded.
func startPredictServer(b *testing.B, art *models.Artifact) string {
	b.Helper()
	st, err := local.New(filepath.Join(b.TempDir(), "models"))
	if err != nil {
		b.Fatal(err)
	}
	reg := models.NewRegistry(st)
	if _, err := reg.Publish(context.Background(), "clicks", art); err != nil {
		b.Fatal(err)
	}
	srv, err := serving.New(serving.Config{Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	for deadline := time.Now().Add(time.Minute); !srv.Ready(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the server did not load the model within a minute")
		}
	}
	return "http://" + ln.Addr().String()
}
