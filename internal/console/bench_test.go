package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer/jobs"
)

// bigEnv is a console over a store holding nJobs finished job records
// (loaded by a real Manager, as a restarted driver does) and one model
// with nVersions versions, each with two metrics.
func bigEnv(tb testing.TB, nJobs, nVersions int) *env {
	tb.Helper()
	ctx := context.Background()
	st, err := local.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range nJobs {
		sub := base.Add(time.Duration(i/1000) * time.Second)
		j := jobs.Job{ID: fmt.Sprintf("%s-%04d", sub.Format("20060102-150405"), i%1000+1), Name: fmt.Sprintf("job-%d", i%37), File: "job.yaml",
			State: jobs.Succeeded, Submitted: sub, Started: sub, Finished: sub.Add(time.Duration(i%300) * time.Second), Attempts: 1,
			Progress: &jobs.Progress{Iter: 100, MaxIter: 100, Loss: 0.31, GradNorm: 1e-6},
			Result:   &jobs.Result{Model: "big", Version: i%nVersions + 1, Algorithm: "logreg", Metrics: map[string]jobs.Float{"auc": 0.9}, Iterations: 100}}
		b, err := json.Marshal(j)
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.Put(ctx, "jobs/"+j.ID+".json", bytes.NewReader(b), int64(len(b))); err != nil {
			tb.Fatal(err)
		}
	}
	e := &env{reg: models.NewRegistry(st), curves: NewCurves()}
	if e.m, err = jobs.NewManager(ctx, jobs.ManagerConfig{Store: st, Registry: e.reg, Logger: trainertest.QuietLogger()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.m.Close() })
	e.publish(tb, "big", nVersions)
	var ts bearer.Tokens[Scope]
	ts.Add(readToken, ScopeRead)
	con, err := New(Config{Jobs: e.m, Curves: e.curves, Models: e.reg, Tokens: &ts, Logger: trainertest.QuietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	e.url = serve(tb, con)
	return e
}

// BenchmarkFirstRender is the server's share of a first page view with
// 10 000 job records and a model of 1 000 versions: the jobs list (the
// console's landing page, its newest 100 rows), the models list and the
// model's page (200 newest version rows, two metric charts over all 1 000
// versions, its alias history), each a full GET over loopback.
//
//	go test ./internal/console -run '^$' -bench FirstRender -benchtime 50x
func BenchmarkFirstRender(b *testing.B) {
	versions := 1000
	if v := os.Getenv("FLINT_BENCH_VERSIONS"); v != "" { // a quicker set-up when profiling the jobs list
		versions, _ = strconv.Atoi(v)
	}
	e := bigEnv(b, 10000, versions)
	for _, p := range []string{"/jobs", "/models", "/models/big"} {
		b.Run("page="+p, func(b *testing.B) {
			var size int
			for b.Loop() {
				size = getPage(b, e.url+p)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
			b.ReportMetric(float64(size)/1024, "KiB/page")
		})
	}
}

func getPage(tb testing.TB, url string) int {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return int(n)
}

// BenchmarkCurvesIteration is what the console adds to each optimiser
// iteration of a running job: the recording of the point (the live
// stream's rendering runs on the stream's goroutine, not the optimiser's).
//
//	go test ./internal/console -run '^$' -bench CurvesIteration
func BenchmarkCurvesIteration(b *testing.B) {
	c := NewCurves()
	obs := c.Observe("job")
	i := 0
	for b.Loop() {
		obs.Iteration(0, ml.Progress{Iter: i % MaxPoints, Loss: 1 / float64(i+1), GradNorm: 1}, 100)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/iteration")
}

// TestFirstRenderInBrowser measures, in headless Chromium, the time from
// navigation to a usable page (the load event, the table present) for the
// three pages of BenchmarkFirstRender. It logs the times and checks
// nothing about them (no timed assertions); set FLINT_LONG=1 to run it.
//
//	FLINT_LONG=1 go test ./internal/console -run FirstRenderInBrowser -v
func TestFirstRenderInBrowser(t *testing.T) {
	if os.Getenv("FLINT_LONG") == "" {
		t.Skip("set FLINT_LONG=1: builds a store of 10 000 jobs and 1 000 versions")
	}
	e := bigEnv(t, 10000, 1000)
	ctx := tab(t)
	login(t, ctx, e, readToken)
	for _, p := range []struct{ path, ready string }{{"/jobs", "#jobs"}, {"/models", "#models"}, {"/models/big", "#versions"}} {
		for i := range 3 {
			t0 := time.Now()
			do(t, ctx, chromedp.Navigate(e.url+p.path), chromedp.WaitVisible(p.ready))
			t.Logf("%s (view %d): usable after %v", p.path, i+1, time.Since(t0).Round(time.Millisecond))
		}
	}
}
