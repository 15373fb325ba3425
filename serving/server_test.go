package serving

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flintml/flint/models"
)

// post sends a request from any goroutine (no t.Fatal).
func (ts *testServer) post(path, body string) (int, []byte, error) {
	resp, err := ts.client.Post(ts.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// hammer sends predictions of price models (3x + 1000·(version-1)) from
// several goroutines until stop, checking every answer; it returns the
// number of answers per version.
type hammer struct {
	stop     atomic.Bool
	total    atomic.Int64
	perVer   sync.Map // version -> *atomic.Int64
	mu       sync.Mutex
	failures []string
	wg       sync.WaitGroup
}

func (h *hammer) fail(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failures) < 10 {
		h.failures = append(h.failures, fmt.Sprintf(format, args...))
	}
}

func (h *hammer) count(v int) int64 {
	c, _ := h.perVer.LoadOrStore(v, new(atomic.Int64))
	return c.(*atomic.Int64).Load()
}

func (h *hammer) start(ts *testServer, path string, workers int, intercept func(version int) float64) {
	for g := range workers {
		h.wg.Go(func() {
			last := 0
			for i := 0; !h.stop.Load() && h.total.Load() < 50_000; i++ {
				x := float64(g*1000 + i%100)
				code, b, err := ts.post(path, fmt.Sprintf(`{"row": {"x": %v}}`, x))
				h.total.Add(1)
				if err != nil || code != http.StatusOK {
					h.fail("status %d %s %v", code, b, err)
					continue
				}
				var got predictResponse
				if err := json.Unmarshal(b, &got); err != nil || len(got.Predictions) != 1 || got.Predictions[0].Value == nil {
					h.fail("bad body %s", b)
					continue
				}
				if want := 3*x + intercept(got.Version); math.Abs(*got.Predictions[0].Value-want) > 1e-6 {
					h.fail("version %d answered %v, want %v", got.Version, *got.Predictions[0].Value, want)
				}
				if got.Version < last {
					h.fail("went back from version %d to %d", last, got.Version)
				}
				last = got.Version
				c, _ := h.perVer.LoadOrStore(got.Version, new(atomic.Int64))
				c.(*atomic.Int64).Add(1)
			}
		})
	}
}

func (h *hammer) finish(t *testing.T) {
	t.Helper()
	h.stop.Store(true)
	h.wg.Wait()
	if len(h.failures) > 0 {
		t.Fatalf("%d requests, failures: %q", h.total.Load(), h.failures)
	}
}

// TestHotSwapUnderLoad publishes a new version while clients hammer the
// unversioned route: no request fails, and every client moves to the new
// version and never back.
func TestHotSwapUnderLoad(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg, WatchInterval: 10 * time.Millisecond})
	ts.waitReady(t)

	h := &hammer{}
	h.start(ts, "/v1/models/price/predict", 4, func(v int) float64 { return 1000 * float64(v-1) })
	waitFor(t, "load on version 1", func() bool { return h.count(1) >= 50 || len(h.failures) > 0 })
	publish(t, reg, "price", priceModel(1000).artifact(t))
	waitFor(t, "answers from version 2", func() bool { return h.count(2) >= 200 || len(h.failures) > 0 })
	h.finish(t)
	t.Logf("%d requests: %d from version 1, %d from version 2", h.total.Load(), h.count(1), h.count(2))

	// Version 1 is no longer referenced: the collector frees it, and the
	// server says so.
	waitFor(t, "version 1 released", func() bool {
		runtime.GC()
		return strings.Contains(ts.logs.String(), `msg="serving: model released" model=price version=1`)
	})
}

// TestPromoteUnderLoad moves an alias through the admin API while clients
// hammer the alias route.
func TestPromoteUnderLoad(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	publish(t, reg, "price", priceModel(1000).artifact(t))
	if err := reg.SetAlias(context.Background(), "price", "production", 1); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	h := &hammer{}
	h.start(ts, "/v1/models/price/aliases/production/predict", 4, func(v int) float64 { return 1000 * float64(v-1) })
	waitFor(t, "load on version 1", func() bool { return h.count(1) >= 50 || len(h.failures) > 0 })
	var resp map[string]any
	ts.json(t, "PUT", "/v1/models/price/aliases/production", `{"version": 2}`, &resp)
	n2 := h.count(2)
	waitFor(t, "answers from version 2", func() bool { return h.count(2) >= n2+200 || len(h.failures) > 0 })
	h.finish(t)
}

// TestFailedLoadKeepsPrevious: a version that does not load leaves the
// previous one serving, and shows on the ready endpoint, the model's
// description and the metrics.
func TestFailedLoadKeepsPrevious(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(100).artifact(t))
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	bad := priceModel(0).artifact(t)
	bad.Params = []byte("not a model")
	publish(t, reg, "price", bad)
	waitFor(t, "the failed load", func() bool {
		var d modelDetail
		ts.json(t, "GET", "/v1/models/price", "", &d)
		return len(d.Versions) == 2 && d.Versions[1].LoadError != ""
	})
	var got predictResponse
	ts.json(t, "POST", "/v1/models/price/predict", `{"row": {"x": 0}}`, &got)
	if got.Version != 1 || math.Abs(*got.Predictions[0].Value-100) > 1e-6 {
		t.Fatalf("after a bad version 2: %s", mustJSON(got))
	}
	if !ts.Ready() {
		t.Fatal("server not ready while version 1 serves")
	}
	var ready modelReady
	ts.json(t, "GET", "/v2/models/price/ready", "", &ready)
	if !ready.Ready || ready.Version != "1" || !strings.Contains(ready.LoadErrors["2"], "not an encoded model") {
		t.Fatalf("model ready: %+v", ready)
	}
	code, b := ts.do(t, "GET", "/v2/models/price/versions/2/ready", "")
	if code != http.StatusBadRequest || !strings.Contains(string(b), `"ready":false`) {
		t.Fatalf("version 2 ready: %d %s", code, b)
	}
	if code, b := ts.do(t, "POST", "/v1/models/price/versions/2/predict", `{"row": {"x": 0}}`); code != http.StatusServiceUnavailable {
		t.Fatalf("predict with version 2: %d %s", code, b)
	}
	m := ts.metricsText(t)
	for _, want := range []string{
		`flint_serving_model_loads_total{model="price",result="failure"}`,
		`flint_serving_model_version{model="price",ref="default"} 1`,
		`flint_serving_model_load_failures{model="price"} 1`,
		`flint_serving_model_ready{model="price"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A good version 3 replaces both.
	publish(t, reg, "price", priceModel(300).artifact(t))
	waitFor(t, "version 3", func() bool {
		ts.json(t, "POST", "/v1/models/price/predict", `{"row": {"x": 0}}`, &got)
		return got.Version == 3
	})
	waitFor(t, "the failure gauge to clear", func() bool {
		return strings.Contains(ts.metricsText(t), `flint_serving_model_load_failures{model="price"} 0`)
	})

	// A new model whose only version is broken: not ready, and neither is
	// the server, until it is fixed.
	publish(t, reg, "broken", bad)
	waitFor(t, "the server to turn unready", func() bool { return !ts.Ready() })
	if code, b := ts.do(t, "GET", "/v2/health/ready", ""); code != http.StatusBadRequest {
		t.Fatalf("server ready: %d %s", code, b)
	}
	if code, b := ts.do(t, "GET", "/v2/models/broken/ready", ""); code != http.StatusBadRequest {
		t.Fatalf("broken ready: %d %s", code, b)
	}
	if code, b := ts.do(t, "POST", "/v1/models/broken/predict", `{"row": {"x": 0}}`); code != http.StatusServiceUnavailable {
		t.Fatalf("broken predict: %d %s", code, b)
	}
	publish(t, reg, "broken", priceModel(5).artifact(t))
	ts.waitReady(t)
}

func (ts *testServer) metricsText(t testing.TB, hdr ...string) string {
	t.Helper()
	code, b := ts.do(t, "GET", "/metrics", "", hdr...)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, b)
	}
	return string(b)
}

func TestModelDeleted(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	publish(t, reg, "other", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)
	if err := reg.DeleteModel(context.Background(), "price"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the model to go", func() bool {
		code, _ := ts.do(t, "POST", "/v1/models/price/predict", `{"row": {"x": 0}}`)
		return code == http.StatusNotFound
	})
	var list struct{ Models []modelSummary }
	ts.json(t, "GET", "/v1/models", "", &list)
	if len(list.Models) != 1 || list.Models[0].Name != "other" {
		t.Fatalf("models %+v", list.Models)
	}
}

func TestDefaultAlias(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	publish(t, reg, "price", priceModel(1000).artifact(t))
	publish(t, reg, "plain", priceModel(0).artifact(t))
	if err := reg.SetAlias(context.Background(), "price", "production", 1); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Registry: reg, DefaultAlias: "production"})
	ts.waitReady(t)
	for model, want := range map[string]int{"price": 1, "plain": 1} {
		var got predictResponse
		ts.json(t, "POST", "/v1/models/"+model+"/predict", `{"row": {"x": 1}}`, &got)
		if got.Version != want {
			t.Errorf("%s serves version %d, want %d", model, got.Version, want)
		}
	}
	publish(t, reg, "plain", priceModel(1000).artifact(t)) // no alias: the latest
	waitFor(t, "plain version 2", func() bool {
		var got predictResponse
		ts.json(t, "POST", "/v1/models/plain/predict", `{"row": {"x": 1}}`, &got)
		return got.Version == 2
	})
}

// fakePredictor predicts 42 for rows of one feature; it can block until
// released, or panic.
type fakePredictor struct {
	entered chan struct{}
	release chan struct{}
	panics  bool
}

func (*fakePredictor) output() outputKind { return regression }
func (*fakePredictor) numFeatures() int   { return 1 }
func (*fakePredictor) numClasses() int    { return 0 }

func (f *fakePredictor) predict(pred, _, _ []float64, rows int) error {
	if f.panics {
		panic("fake predictor panics")
	}
	if f.entered != nil {
		f.entered <- struct{}{}
		<-f.release
	}
	for i := range pred[:rows] {
		pred[i] = 42
	}
	return nil
}

// fakeArtifact is an artefact the adapter named algorithm decodes.
func fakeArtifact(t testing.TB, algorithm string, withPipeline bool) *models.Artifact {
	a := &models.Artifact{Algorithm: algorithm, Params: []byte(algorithm)}
	if withPipeline {
		a.Pipeline = priceModel(0).artifact(t).Pipeline
	}
	return a
}

func withAdapter(name string, v any) func(*Server) {
	return func(s *Server) { s.adapters[name] = func([]byte) (any, error) { return v, nil } }
}

// TestShutdownDrains: Shutdown stops taking connections but waits for the
// request in flight, which completes.
func TestShutdownDrains(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "slow", fakeArtifact(t, "fake-slow", true))
	fake := &fakePredictor{entered: make(chan struct{}), release: make(chan struct{})}
	ts := startServer(t, Config{Registry: reg}, withAdapter("fake-slow", fake))
	ts.waitReady(t)

	type result struct {
		code int
		body []byte
		err  error
	}
	inFlight := make(chan result, 1)
	go func() {
		code, b, err := ts.post("/v1/models/slow/predict", `{"row": {"x": 1}}`)
		inFlight <- result{code, b, err}
	}()
	<-fake.entered
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- ts.Shutdown(ctx)
	}()
	// New connections are refused while the request is in flight.
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", ts.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(fake.release)
	r := <-inFlight
	if r.err != nil || r.code != http.StatusOK || !strings.Contains(string(r.body), `"value":42`) {
		t.Fatalf("in-flight request: %d %s %v", r.code, r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestPanicIsA500(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "boom", fakeArtifact(t, "fake-panic", true))
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg}, withAdapter("fake-panic", &fakePredictor{panics: true}))
	ts.waitReady(t)
	code, b := ts.do(t, "POST", "/v1/models/boom/predict", `{"row": {"x": 1}}`)
	if code != http.StatusInternalServerError || string(b) != `{"error":"internal server error"}`+"\n" {
		t.Fatalf("panicking model: %d %q", code, b)
	}
	if code, b := ts.do(t, "POST", "/v1/models/price/predict", `{"row": {"x": 1}}`); code != http.StatusOK {
		t.Fatalf("after the panic: %d %s", code, b)
	}
	if !strings.Contains(ts.logs.String(), "handler panicked") {
		t.Error("the panic was not logged")
	}
}

// fakeRecommender recommends made-up items, as an ALS adapter would.
type fakeRecommender struct{}

func (fakeRecommender) Recommend(user string, k int, excludeSeen bool) ([]scored, error) {
	if user == "ghost" {
		return nil, errorf(http.StatusNotFound, "user %q was not seen in training", user)
	}
	var out []scored
	for i := range k {
		id := fmt.Sprintf("%s-%d", user, i)
		if excludeSeen {
			id += "-unseen"
		}
		out = append(out, scored{ID: id, Score: float64(k - i)})
	}
	return out, nil
}

func (fakeRecommender) SimilarItems(item string, k int) ([]scored, error) {
	if _, err := strconv.Atoi(item); err != nil {
		return nil, badRequest("item %q: want an integer id", item)
	}
	var out []scored
	for i := range k {
		out = append(out, scored{ID: fmt.Sprint(i), Score: math.Inf(1)})
	}
	return out, nil
}

func TestRecommendRoutes(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "recs", fakeArtifact(t, "fake-als", false))
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg}, withAdapter("fake-als", fakeRecommender{}))
	ts.waitReady(t)

	var got struct {
		Model   string
		Version int
		User    string
		Item    string
		Items   []struct {
			ID    string
			Score any
		}
	}
	ts.json(t, "GET", "/v1/models/recs/recommend?user=u1&k=3", "", &got)
	if got.Model != "recs" || got.Version != 1 || got.User != "u1" || len(got.Items) != 3 || got.Items[0].ID != "u1-0" || got.Items[0].Score != 3.0 {
		t.Fatalf("recommend: %+v", got)
	}
	ts.json(t, "GET", "/v1/models/recs/recommend?user=u1&exclude_seen=true", "", &got)
	if len(got.Items) != 10 || got.Items[0].ID != "u1-0-unseen" {
		t.Fatalf("recommend exclude_seen (default k 10): %+v", got)
	}
	ts.json(t, "GET", "/v1/models/recs/similar?item=7&k=2", "", &got)
	if got.Item != "7" || len(got.Items) != 2 || got.Items[0].Score != "+Inf" {
		t.Fatalf("similar: %+v", got)
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/v1/models/recs/recommend", 400},
		{"GET", "/v1/models/recs/recommend?user=u&k=0", 400},
		{"GET", "/v1/models/recs/recommend?user=u&k=1001", 400},
		{"GET", "/v1/models/recs/recommend?user=u&k=x", 400},
		{"GET", "/v1/models/recs/recommend?user=u&exclude_seen=maybe", 400},
		{"GET", "/v1/models/recs/recommend?user=ghost", 404},
		{"GET", "/v1/models/recs/similar", 400},
		{"GET", "/v1/models/recs/similar?item=x", 400},
		{"GET", "/v1/models/price/recommend?user=u", 400},
		{"GET", "/v1/models/nope/recommend?user=u", 404},
		{"POST", "/v1/models/recs/predict", 400},
		{"POST", "/v2/models/recs/infer", 400},
	} {
		code, b := ts.do(t, c.method, c.path, `{"row": {}}`)
		if code != c.code || !strings.Contains(string(b), `"error"`) {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, b, c.code)
		}
	}
	var d modelDetail
	ts.json(t, "GET", "/v1/models/recs", "", &d)
	if d.Output != "recommendation" {
		t.Errorf("recs output %q", d.Output)
	}
}

func TestAuth(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# who may do what\nread r-token-1\n\nadmin a-token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Registry: reg, TokensFile: tokens, Tokens: []Token{{ScopeRead, "r-token-2"}}})
	ts.waitReady(t)

	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	for _, c := range []struct {
		method, path, body string
		hdr                []string
		code               int
	}{
		{"GET", "/v2/health/live", "", nil, 200},
		{"GET", "/v2/health/ready", "", nil, 200},
		{"GET", "/v2", "", nil, 200},
		{"GET", "/openapi.json", "", nil, 200},
		{"POST", "/v1/models/price/predict", `{"row": {"x": 1}}`, nil, 401},
		{"POST", "/v1/models/price/predict", `{"row": {"x": 1}}`, bearer("wrong"), 401},
		{"POST", "/v1/models/price/predict", `{"row": {"x": 1}}`, []string{"Authorization", "Basic cjpy"}, 401},
		{"POST", "/v1/models/price/predict", `{"row": {"x": 1}}`, bearer("r-token-1"), 200},
		{"POST", "/v1/models/price/predict", `{"row": {"x": 1}}`, bearer("r-token-2"), 200},
		{"POST", "/v1/models/price/predict", `{"row": {"x": 1}}`, []string{"Authorization", "bearer r-token-1"}, 200},
		{"POST", "/v1/models/price/predict", `{"row": {"x": 1}}`, bearer("a-token-1"), 200},
		{"GET", "/v1/models", "", nil, 401},
		{"GET", "/v1/models/price", "", bearer("r-token-1"), 200},
		{"GET", "/v2/models/price", "", nil, 401},
		{"POST", "/v2/models/price/infer", `{"inputs": []}`, nil, 401},
		{"GET", "/metrics", "", nil, 401},
		{"GET", "/metrics", "", bearer("r-token-1"), 200},
		{"PUT", "/v1/models/price/aliases/production", `{"version": 1}`, nil, 401},
		{"PUT", "/v1/models/price/aliases/production", `{"version": 1}`, bearer("r-token-1"), 403},
		{"PUT", "/v1/models/price/aliases/production", `{"version": 1}`, bearer("a-token-1"), 200},
	} {
		req, _ := http.NewRequest(c.method, ts.url+c.path, strings.NewReader(c.body))
		for i := 0; i+1 < len(c.hdr); i += 2 {
			req.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s %s %v: %d %s, want %d", c.method, c.path, c.hdr, resp.StatusCode, b, c.code)
		}
		if c.code == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s %s: 401 without a Bearer challenge", c.method, c.path)
		}
	}
	// The 401s are counted; the 403 (a valid token) is not.
	if text := ts.metricsText(t, bearer("r-token-1")...); !strings.Contains(text, "\nflint_serving_auth_refused_total 8\n") {
		t.Errorf("want flint_serving_auth_refused_total 8 in:\n%s", grepLines(text, "auth_refused"))
	}
}

func TestParseTokens(t *testing.T) {
	ts, err := ParseTokens("read a1, admin b2;read c3\n# admin nope\n", TokensEnv)
	if err != nil || len(ts) != 3 || ts[1] != (Token{ScopeAdmin, "b2"}) || ts[2] != (Token{ScopeRead, "c3"}) {
		t.Fatalf("ParseTokens = %v, %v", ts, err)
	}
	_, err = ParseTokens("read ok\nwrite x\nread two words\n", "tokens.txt")
	if err == nil || !strings.Contains(err.Error(), `tokens.txt:2: unknown scope "write"`) || !strings.Contains(err.Error(), "tokens.txt:3:") {
		t.Fatalf("ParseTokens errors = %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Registry: newRegistry(t), TokensFile: empty}); err == nil || !strings.Contains(err.Error(), "no tokens") {
		t.Fatalf("New with an empty tokens file: %v", err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM := selfSigned(t, dir)
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg, TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem")})
	ts.waitReady(t)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+ts.Addr().String()+"/v1/models/price/predict", "application/json", strings.NewReader(`{"row": {"x": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || !strings.Contains(string(b), `"value":6`) {
		t.Fatalf("HTTPS predict: %d %s (TLS %v)", resp.StatusCode, b, resp.TLS != nil)
	}
	// Plain HTTP is not served.
	if code, b, err := ts.post("/v1/models/price/predict", `{"row": {"x": 2}}`); err == nil && code == http.StatusOK {
		t.Fatalf("plain HTTP answered %d %s", code, b)
	}
	// An untrusted client fails the handshake.
	_, err = (&http.Client{Timeout: 5 * time.Second}).Get("https://" + ts.Addr().String() + "/v2/health/live")
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("untrusted client: %v", err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 to dir.
func selfSigned(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flint test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

func TestMetrics(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg, AccessLog: 1})
	ts.waitReady(t)
	ts.do(t, "POST", "/v1/models/price/predict", `{"rows": [{"x": 1}, {"x": 2}, {"x": 3}]}`)
	ts.do(t, "POST", "/v1/models/price/predict", `{"rows": [{"x": "one"}]}`)
	ts.do(t, "POST", "/v1/models/made-up-name/predict", `{"rows": []}`)
	ts.do(t, "GET", "/no/such/route", "")
	m := ts.metricsText(t)
	for _, want := range []string{
		`flint_serving_requests_total{code="200",model="price",route="/v1/models/:model/predict",version="1"} 1`,
		`flint_serving_requests_total{code="400",model="price",route="/v1/models/:model/predict",version="1"} 1`,
		`flint_serving_requests_total{code="404",model="",route="/v1/models/:model/predict",version=""} 1`,
		`flint_serving_request_duration_seconds_count{code="200",model="price",route="/v1/models/:model/predict",version="1"} 1`,
		`flint_serving_rows_total{model="price",version="1"} 3`,
		`flint_serving_model_loads_total{model="price",result="success"} 1`,
		`flint_serving_model_version{model="price",ref="latest"} 1`,
		`flint_serving_loaded_versions 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, "made-up-name") || strings.Contains(m, "/no/such/route") {
		t.Error("metrics carry a client-chosen name")
	}
	// Access log: one record per request with model, version and rows,
	// written by the access log's goroutine.
	record := regexp.MustCompile(`msg=request method=POST path=/v1/models/price/predict status=200 latency=\S+ model=price version=1 rows=3`)
	for deadline := time.Now().Add(10 * time.Second); !record.MatchString(ts.logs.String()); {
		if time.Now().After(deadline) {
			t.Fatalf("no access log record for the prediction in 10s:\n%s", ts.logs)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := New(Config{MaxRows: -1, TLSCert: "c.pem", DefaultAlias: "latest", RequestTimeout: time.Minute, WriteTimeout: time.Second})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"Registry: required", "MaxRows: must be > 0, got -1", "TLSCert and TLSKey", "DefaultAlias", "WriteTimeout: must exceed RequestTimeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := New(Config{Registry: newRegistry(t), TLSCert: "nope.pem", TLSKey: "nope.key"}); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Errorf("missing cert files: %v", err)
	}
	s, err := New(Config{Registry: newRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.MaxBodyBytes != DefaultMaxBodyBytes || s.cfg.MaxRows != DefaultMaxRows || s.cfg.WatchInterval != models.DefaultWatchInterval ||
		s.cfg.RequestTimeout != DefaultRequestTimeout || s.cfg.Addr != DefaultAddr {
		t.Errorf("defaults: %+v", s.cfg)
	}
	if s.Addr() != nil || s.Ready() {
		t.Error("a server that was never started has an address or is ready")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown of a server never started: %v", err)
	}
}

func TestRouteErrors(t *testing.T) {
	ts := startServer(t, Config{Registry: newRegistry(t)})
	ts.waitReady(t)
	for _, c := range []struct {
		method, path string
		code         int
		msg          string
	}{
		{"GET", "/nope", 404, "no route for GET /nope"},
		{"DELETE", "/v2/health/live", 405, "method DELETE is not allowed"},
		{"HEAD", "/nope", 404, ""},
	} {
		code, b := ts.do(t, c.method, c.path, "")
		if code != c.code || !strings.Contains(string(b), c.msg) {
			t.Errorf("%s %s: %d %s, want %d %q", c.method, c.path, code, b, c.code, c.msg)
		}
	}
}

// TestRequestTimeout: a request gets 503 when its deadline passes while a
// version it needs is still loading; the load goes on, and a later request
// finds it.
func TestRequestTimeout(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "m", fakeArtifact(t, "fake-blocking", true))
	publish(t, reg, "m", priceModel(0).artifact(t)) // the latest; version 1 loads on demand
	release := make(chan struct{})
	ts := startServer(t, Config{Registry: reg, RequestTimeout: 200 * time.Millisecond}, func(s *Server) {
		s.adapters["fake-blocking"] = func([]byte) (any, error) {
			<-release
			return &fakePredictor{}, nil
		}
	})
	ts.waitReady(t)
	start := time.Now()
	code, b := ts.do(t, "POST", "/v1/models/m/versions/1/predict", `{"row": {"x": 1}}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "longer than 200ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("slow load: %d %s after %v", code, b, time.Since(start))
	}
	close(release)
	waitFor(t, "version 1", func() bool {
		code, b := ts.do(t, "POST", "/v1/models/m/versions/1/predict", `{"row": {"x": 1}}`)
		return code == http.StatusOK && strings.Contains(string(b), `"value":42`)
	})
}

func TestVersionCache(t *testing.T) {
	c := newVersionCache(2)
	ctx := context.Background()
	var calls atomic.Int64
	load := func(v int) func(context.Context) (*loadedModel, error) {
		return func(context.Context) (*loadedModel, error) {
			calls.Add(1)
			time.Sleep(10 * time.Millisecond)
			return &loadedModel{version: v}, nil
		}
	}
	// Concurrent requests share one load.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if lm, err := c.get(ctx, "m", 1, load(1)); err != nil || lm.version != 1 {
				t.Errorf("get 1: %v %v", lm, err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d loads for one version", calls.Load())
	}
	// Least recently used out.
	c.get(ctx, "m", 2, load(2))
	c.get(ctx, "m", 1, load(1))
	c.get(ctx, "m", 3, load(3))
	if c.peek("m", 1) == nil || c.peek("m", 2) != nil || c.peek("m", 3) == nil || len(c.entries) != 2 {
		t.Fatalf("after 1, 2, 1, 3 with room for 2: %v", c.entries)
	}
	// Failures are not kept.
	fails := func(context.Context) (*loadedModel, error) { calls.Add(1); return nil, errors.New("broken") }
	n := calls.Load()
	c.get(ctx, "m", 4, fails)
	c.get(ctx, "m", 4, fails)
	if calls.Load() != n+2 || c.peek("m", 4) != nil {
		t.Fatal("a failed load was cached")
	}
	c.purge("m")
	if len(c.entries) != 0 {
		t.Fatalf("purge left %v", c.entries)
	}
	if err := c.close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.get(ctx, "m", 1, load(1)); !errors.Is(err, errClosed) {
		t.Fatalf("get after close: %v", err)
	}
}
