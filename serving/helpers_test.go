package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

// fitted is a trained pipeline and model, ready to publish.
type fitted struct {
	pipeline *features.Pipeline
	model    ml.Model
	records  []map[string]any // the training records
}

func (f *fitted) artifact(t testing.TB) *models.Artifact {
	t.Helper()
	pj, err := json.Marshal(f.pipeline)
	if err != nil {
		t.Fatal(err)
	}
	params, err := f.model.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &models.Artifact{Algorithm: f.model.Algorithm(), Pipeline: pj, Params: params,
		Metrics: map[string]float64{"rows": float64(len(f.records))}}
}

// predictLocal runs the pipeline and model in-process: what the server
// must answer.
func (f *fitted) predictLocal(t testing.TB, rec map[string]any) (pred float64, proba []float64) {
	t.Helper()
	p := f.pipeline
	row := p.Schema.NewRow()
	// The label is not sent to the server; give the in-process decoder one.
	m := map[string]any{}
	for k, v := range rec {
		m[k] = v
	}
	if _, ok := m[p.Schema.Label]; !ok {
		if p.Schema.Fields[p.Schema.Index(p.Schema.Label)].Type == features.Categorical {
			m[p.Schema.Label] = p.Classes[0]
		} else {
			m[p.Schema.Label] = 0.0
		}
	}
	if err := p.Schema.DecodeMap(row, m); err != nil {
		t.Fatal(err)
	}
	x := make([]float64, p.Width())
	if err := p.NewTransformer().Transform(x, row); err != nil {
		t.Fatal(err)
	}
	out := []float64{0}
	f.model.PredictBatch(out, x, 1)
	if c, ok := f.model.(ml.Classifier); ok {
		proba = make([]float64, c.NumClasses())
		c.ProbaBatch(proba, x, 1)
	}
	return out[0], proba
}

// fit fits the pipeline on the records (as the trainer does, on the
// engine) and then the model on the transformed rows.
func fit(t testing.TB, schema features.Schema, specs []features.TransformSpec, recs []map[string]any,
	fitModel func(ctx context.Context, e *cluster.Engine, ds *cluster.Dataset) (ml.Model, error)) *fitted {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "serving-fit")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var buf bytes.Buffer
	for _, r := range recs {
		b, _ := json.Marshal(r)
		buf.Write(b)
		buf.WriteByte('\n')
	}
	path := filepath.Join(dir, "train.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := features.New(schema, specs)
	if err != nil {
		t.Fatal(err)
	}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	sources, err := cluster.PlanFiles([]string{path}, cluster.FileOptions{Format: cluster.Format{Kind: "jsonl"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Fit(ctx, e, nil, sources, features.FitOptions{}); err != nil {
		t.Fatal(err)
	}
	w := p.Width()
	x := make([]float64, len(recs)*w)
	y := make([]float64, len(recs))
	tr := p.NewTransformer()
	row := p.Schema.NewRow()
	for i, r := range recs {
		if err := p.Schema.DecodeMap(row, r); err != nil {
			t.Fatal(err)
		}
		if err := tr.Transform(x[i*w:(i+1)*w], row); err != nil {
			t.Fatal(err)
		}
		if y[i], err = p.Label(row); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := e.FromDense(ctx, "train", x, len(recs), w, y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := fitModel(ctx, e, ds)
	if err != nil {
		t.Fatal(err)
	}
	return &fitted{pipeline: p, model: m, records: recs}
}

// churnSchema is the classifier's: numbers (one optional, imputed), a
// category (one-hot), a vector, and a categorical label.
var churnSchema = features.Schema{
	Fields: []features.Field{
		{Name: "age", Type: features.Numeric},
		{Name: "income", Type: features.Numeric, Optional: true},
		{Name: "plan", Type: features.Categorical},
		{Name: "usage", Type: features.Vector, Dim: 2},
		{Name: "churned", Type: features.Categorical},
	},
	Label: "churned",
}

func churnSpecs() []features.TransformSpec {
	yes := true
	return []features.TransformSpec{
		{Type: "imputer", Inputs: []string{"income"}, Output: "income_i"},
		{Type: "standard_scaler", Inputs: []string{"age", "income_i"}, Output: "scaled", WithMean: &yes},
		{Type: "one_hot", Inputs: []string{"plan"}, Output: "plan_oh"},
		{Type: "assembler", Inputs: []string{"scaled", "plan_oh", "usage"}},
	}
}

func churnRecords(n int, seed uint64) []map[string]any {
	rng := rand.New(rand.NewPCG(seed, 1))
	plans := []string{"basic", "pro", "team"}
	var recs []map[string]any
	for i := 0; i < n; i++ {
		age := 18 + rng.Float64()*60
		u := []any{rng.Float64(), rng.Float64() * 3}
		plan := plans[i%3]
		score := age/50 + u[0].(float64) - map[string]float64{"basic": 0, "pro": 0.6, "team": 0.3}[plan] + rng.NormFloat64()*0.2
		r := map[string]any{"age": age, "plan": plan, "usage": u, "churned": map[bool]string{true: "yes", false: "no"}[score > 1]}
		if i%5 != 0 {
			r["income"] = 20000 + rng.Float64()*80000
		}
		recs = append(recs, r)
	}
	return recs
}

// churnModel is a fitted logistic regression (classes "no" and "yes").
var churnModel = sync.OnceValue(func() *fitted {
	return fit(panicTB{}, churnSchema, churnSpecs(), churnRecords(300, 7),
		func(ctx context.Context, e *cluster.Engine, ds *cluster.Dataset) (ml.Model, error) {
			return ml.LogisticRegression{RegParam: 0.01}.Fit(ctx, e, ds)
		})
})

// priceModel is a fitted linear regression y = 3x + intercept, exactly, so
// versions with different intercepts are told apart by their predictions.
var priceModels sync.Map // intercept -> *fitted

func priceModel(intercept float64) *fitted {
	if f, ok := priceModels.Load(intercept); ok {
		return f.(*fitted)
	}
	schema := features.Schema{Fields: []features.Field{{Name: "x", Type: features.Numeric}, {Name: "y", Type: features.Numeric}}, Label: "y"}
	var recs []map[string]any
	for i := 0; i < 200; i++ {
		x := float64(i) / 10
		recs = append(recs, map[string]any{"x": x, "y": 3*x + intercept})
	}
	f := fit(panicTB{}, schema, []features.TransformSpec{{Type: "standard_scaler", Inputs: []string{"x"}, Output: "xs"}}, recs,
		func(ctx context.Context, e *cluster.Engine, ds *cluster.Dataset) (ml.Model, error) {
			return ml.LinearRegression{}.Fit(ctx, e, ds)
		})
	priceModels.Store(intercept, f)
	return f
}

// panicTB lets the shared, lazily fitted models fail outside any test.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                   {}
func (panicTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (panicTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func newRegistry(t testing.TB) *models.Registry {
	t.Helper()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return models.NewRegistry(st)
}

func publish(t testing.TB, reg *models.Registry, name string, a *models.Artifact) int {
	t.Helper()
	v, err := reg.Publish(context.Background(), name, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// logBuffer collects a server's log; it is shown when the test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testServer is a Server on 127.0.0.1:0 with a real client.
type testServer struct {
	*Server
	url    string
	client *http.Client
	logs   *logBuffer
}

// startServer starts a server for cfg (Logger and WatchInterval get test
// values when unset); setup, if any, runs before it serves.
func startServer(t testing.TB, cfg Config, setup ...func(*Server)) *testServer {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if cfg.WatchInterval == 0 {
		cfg.WatchInterval = 20 * time.Millisecond
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	ts := &testServer{Server: s, url: "http://" + ln.Addr().String(), logs: logs,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	t.Cleanup(func() {
		// Close the client's idle connections first: the server would
		// wait 5s for a connection on which no request ever came.
		ts.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return ts
}

// waitReady waits for the server to be ready.
func (ts *testServer) waitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.WaitReady(ctx); err != nil {
		t.Fatalf("server not ready: %v", err)
	}
}

// do sends a request and returns the status and body. hdr is name, value
// pairs.
func (ts *testServer) do(t testing.TB, method, path, body string, hdr ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// getJSON requests and decodes a 200 JSON response into v.
func (ts *testServer) json(t testing.TB, method, path, body string, v any, hdr ...string) {
	t.Helper()
	code, b := ts.do(t, method, path, body, hdr...)
	if code != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rowsJSON encodes records as a native request body, without their label.
func rowsJSON(recs []map[string]any, label string) string {
	var rows []map[string]any
	for _, r := range recs {
		m := map[string]any{}
		for k, v := range r {
			if k != label {
				m[k] = v
			}
		}
		rows = append(rows, m)
	}
	b, _ := json.Marshal(map[string]any{"rows": rows})
	return string(b)
}

type predictResponse struct {
	Model       string   `json:"model"`
	Version     int      `json:"version"`
	Classes     []string `json:"classes"`
	Predictions []struct {
		Class         string    `json:"class"`
		Index         *int      `json:"index"`
		Probabilities []float64 `json:"probabilities"`
		Value         *float64  `json:"value"`
		Cluster       *int      `json:"cluster"`
		Row           *int      `json:"row"`
	} `json:"predictions"`
}

type errorResponse struct {
	Error string  `json:"error"`
	Row   *int    `json:"row"`
	Field *string `json:"field"`
}
