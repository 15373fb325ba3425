package console

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/serving"
)

// quantile interpolates within the bucket, as histogram_quantile does.
func TestQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.01, 0.1}
	for _, c := range []struct {
		q      float64
		counts []float64
		want   float64
	}{
		{0.5, []float64{10, 10, 10}, 0.0005},
		{0.5, []float64{0, 10, 10}, 0.0055},
		{0.99, []float64{0, 0, 100}, 0.0991},
		{0.5, []float64{2, 4, 4}, 0.001},
	} {
		got, ok := quantile(c.q, bounds, c.counts)
		if !ok || fmt.Sprintf("%.6f", got) != fmt.Sprintf("%.6f", c.want) {
			t.Errorf("quantile(%v, %v) = %v, %v; want %v", c.q, c.counts, got, ok, c.want)
		}
	}
	if _, ok := quantile(0.5, bounds, []float64{0, 0, 0}); ok {
		t.Error("quantile of no observation reported one")
	}
}

// The serving page shows a real server's requests per model version,
// from its /metrics, and counts new requests without a reload.
func TestBrowserServing(t *testing.T) {
	e := newEnv(t)
	j := e.submit(t, "clicks")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if j, err := e.m.Wait(ctx, j.ID); err != nil || j.Result == nil {
		t.Fatalf("the job: %v %s", err, j.Error)
	}
	srv, err := serving.New(serving.Config{Registry: e.reg, Addr: "127.0.0.1:0", WatchInterval: 50 * time.Millisecond, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	url := "http://" + ln.Addr().String()
	predict := func() int {
		resp, err := http.Post(url+"/v1/models/clicks/predict", "application/json", strings.NewReader(`{"rows": [{"x1": 0.5, "x2": -1}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, func() bool { return predict() == http.StatusOK })
	for range 20 {
		if code := predict(); code != http.StatusOK {
			t.Fatalf("predict: %d", code)
		}
	}
	con, err := New(Config{Servers: []string{url}, Poll: 50 * time.Millisecond, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	curl := serve(t, con)
	tctx := tab(t)
	do(t, tctx, chromedp.Navigate(curl+"/serving"), chromedp.WaitVisible("#serving"))
	cell := func(class string) string {
		return eval[string](t, tctx, fmt.Sprintf(`(document.querySelector('#serving tr[data-model="clicks"][data-version="1"] td.%s')||{textContent:""}).textContent`, class))
	}
	n0 := cell("requests")
	var before int
	if _, err := fmt.Sscan(n0, &before); err != nil || before < 21 {
		t.Fatalf("requests of clicks v1: %q, want at least 21", n0)
	}
	if p50 := cell("p50"); p50 == "–" || p50 == "" {
		t.Errorf("p50 of clicks v1: %q", p50)
	}
	if e := cell("errors"); e != "0.00%" {
		t.Errorf("5xx share of clicks v1: %q, want 0.00%%", e)
	}
	for range 10 {
		predict()
	}
	waitJS(t, tctx, fmt.Sprintf(`document.querySelector('#serving tr[data-model="clicks"][data-version="1"] td.requests').textContent === "%d"`, before+10))
}

// Whatever a server's /metrics holds, the serving page's parse and
// quantiles neither panic nor report a quantile outside the buckets.
func FuzzParseServing(f *testing.F) {
	f.Add(`# TYPE flint_serving_requests_total counter
flint_serving_requests_total{route="/v1/models/:model/predict",model="m",version="1",code="200"} 7
flint_serving_requests_total{route="/v1/models/:model/predict",model="m",version="1",code="503"} 1
# TYPE flint_serving_request_duration_seconds histogram
flint_serving_request_duration_seconds_bucket{route="r",model="m",version="1",code="200",le="0.001"} 3
flint_serving_request_duration_seconds_bucket{route="r",model="m",version="1",code="200",le="0.01"} 7
flint_serving_request_duration_seconds_bucket{route="r",model="m",version="1",code="200",le="+Inf"} 7
flint_serving_request_duration_seconds_sum{route="r",model="m",version="1",code="200"} 0.02
flint_serving_request_duration_seconds_count{route="r",model="m",version="1",code="200"} 7
# TYPE flint_serving_model_version gauge
flint_serving_model_version{model="m",ref="default"} 1
`)
	f.Fuzz(func(t *testing.T, text string) {
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			return
		}
		s := parseServing(fams, time.Now())
		for k, v := range s.versions {
			for _, q := range []float64{0.5, 0.99} {
				got, ok := quantile(q, v.bounds, v.counts)
				if ok && len(v.bounds) > 0 && (got < 0 && v.bounds[0] >= 0) {
					t.Errorf("%v: quantile %v = %v below every bucket", k, q, got)
				}
			}
			_ = servingRowOf("u", k, s, s)
		}
	})
}
