package serving

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
)

func TestTokensFromEnvRefusesNoTokens(t *testing.T) {
	for _, v := range []string{"# read nobody", "   ", ";", ",;\n\t", "# a\n\n"} {
		if ts, err := tokensFromEnv(v); err == nil || !strings.Contains(err.Error(), "holds no tokens") {
			t.Errorf("tokensFromEnv(%q) = %v, %v; want an error saying it holds no tokens", v, ts, err)
		}
	}
	if ts, err := tokensFromEnv(""); err != nil || ts != nil {
		t.Errorf(`tokensFromEnv("") = %v, %v; want none`, ts, err)
	}
	ts, err := tokensFromEnv("# ops\nread r1; admin a1")
	if err != nil || len(ts) != 2 {
		t.Fatalf("tokensFromEnv = %v, %v", ts, err)
	}
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	on := startServer(t, Config{Registry: reg, Tokens: ts})
	off := startServer(t, Config{Registry: reg})
	if !on.AuthEnabled() || off.AuthEnabled() {
		t.Errorf("AuthEnabled: %v with tokens, %v without", on.AuthEnabled(), off.AuthEnabled())
	}
	waitFor(t, "the start-up log lines", func() bool {
		return strings.Contains(on.logs.String(), "auth=true") && strings.Contains(off.logs.String(), "auth=false")
	})
}

// TestInFlightBytesBound: while one request holds the bytes in flight, the
// next gets 503 with Retry-After, counted in the metrics; then it passes.
func TestInFlightBytesBound(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg, MaxBodyBytes: 1 << 20, MaxInFlightBytes: 1 << 20})
	ts.waitReady(t)
	body := `{"rows": [{"x": 1}, {"x": 2}]` + strings.Repeat(" ", 600_000) + "}"
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", ts.url+"/v1/models/price/predict", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	type result struct {
		code int
		err  error
	}
	first := make(chan result, 1)
	go func() {
		resp, err := ts.client.Do(req)
		if err != nil {
			first <- result{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		first <- result{code: resp.StatusCode}
	}()
	if _, err := pw.Write([]byte(body[:100])); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first request to hold its bytes", func() bool { return ts.flight.used.Load() > int64(len(body)) })

	resp, err := ts.client.Post(ts.url+"/v1/models/price/predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "in flight") {
		t.Fatalf("second request: %d, Retry-After %q, %s; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if _, err := pw.Write([]byte(body[100:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if r := <-first; r.err != nil || r.code != http.StatusOK {
		t.Fatalf("first request: %d %v", r.code, r.err)
	}
	waitFor(t, "the bytes to be released", func() bool { return ts.flight.used.Load() == 0 })
	if code, b := ts.do(t, "POST", "/v1/models/price/predict", body); code != http.StatusOK {
		t.Fatalf("after the first: %d %.200s", code, b)
	}
	if m := ts.metricsText(t); !strings.Contains(m, "flint_serving_shed_requests_total 1") ||
		!strings.Contains(m, `flint_serving_requests_total{code="503",model="price",route="/v1/models/:model/predict",version="1"} 1`) {
		t.Errorf("metrics do not count the shed request:\n%s", grepLines(m, "shed", "503"))
	}
}

func grepLines(text string, words ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func gzipped(t *testing.T, s string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestContentTypeAndEncoding(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg, MaxBodyBytes: 64 << 10})
	ts.waitReady(t)
	const path, body = "/v1/models/price/predict", `{"rows": [{"x": 1}, {"x": 2}]}`
	_, plain := ts.do(t, "POST", path, body)
	for _, c := range []struct {
		name, body string
		hdr        []string
		code       int
		want       string
	}{
		{"json with charset", body, []string{"Content-Type", "application/json; charset=UTF-8"}, 200, ""},
		{"no content type", body, []string{"Content-Type", ""}, 200, ""},
		{"gzip", gzipped(t, body), []string{"Content-Encoding", "gzip"}, 200, ""},
		{"text/plain", body, []string{"Content-Type", "text/plain"}, 415, "Content-Type text/plain"},
		{"form", body, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "send application/json"},
		{"latin-1", body, []string{"Content-Type", "application/json; charset=iso-8859-1"}, 415, "charset"},
		{"brotli", body, []string{"Content-Encoding", "br"}, 415, "send gzip or no encoding"},
		{"not gzip", body, []string{"Content-Encoding", "gzip"}, 400, "gzip"},
		{"gzip bomb", gzipped(t, `{"rows": [`+strings.Repeat(`{"x": 1},`, 20_000)+`{"x": 1}]}`), []string{"Content-Encoding", "gzip"}, 413, "(decompressed)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, b := ts.do(t, "POST", path, c.body, c.hdr...)
			if code != c.code || !strings.Contains(string(b), c.want) {
				t.Fatalf("%d %s; want %d saying %q", code, b, c.code, c.want)
			}
			if code == 200 && !bytes.Equal(b, plain) {
				t.Fatalf("answer %s, plain JSON gets %s", b, plain)
			}
		})
	}
	code, b := ts.do(t, "POST", "/v2/models/price/infer",
		gzipped(t, `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}`), "Content-Encoding", "gzip")
	if code != 200 {
		t.Fatalf("V2 gzip: %d %s", code, b)
	}
}

// idModel reads x; its schema also has an id no transform takes.
func idModel(t *testing.T) *fitted {
	schema := features.Schema{Fields: []features.Field{{Name: "id", Type: features.Categorical}, {Name: "x", Type: features.Numeric},
		{Name: "y", Type: features.Numeric}}, Label: "y"}
	var recs []map[string]any
	for i := range 50 {
		recs = append(recs, map[string]any{"id": fmt.Sprint("h", i), "x": float64(i), "y": 2 * float64(i)})
	}
	return fit(t, schema, []features.TransformSpec{{Type: "standard_scaler", Inputs: []string{"x"}, Output: "xs"},
		{Type: "assembler", Inputs: []string{"xs"}}}, recs,
		func(ctx context.Context, e *cluster.Engine, ds *cluster.Dataset) (ml.Model, error) {
			return ml.LinearRegression{}.Fit(ctx, e, ds)
		})
}

func TestOnlyFieldsThePipelineReadsAreRequired(t *testing.T) {
	m := idModel(t)
	reg := newRegistry(t)
	publish(t, reg, "houses", m.artifact(t))
	ts := startServer(t, Config{Registry: reg})
	strict := startServer(t, Config{Registry: reg, StrictFields: true})
	ts.waitReady(t)
	strict.waitReady(t)
	for _, body := range []string{`{"row": {"x": 3}}`, `{"row": {"x": 3, "id": "h1"}}`, `{"row": {"id": [1, {"a": null}], "x": 3}}`} {
		var got predictResponse
		ts.json(t, "POST", "/v1/models/houses/predict", body, &got)
		if len(got.Predictions) != 1 || got.Predictions[0].Value == nil || math.Abs(*got.Predictions[0].Value-6) > 1e-9 {
			t.Errorf("%s: %+v, want the value 6", body, got)
		}
	}
	v2 := `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [3]}]}`
	if code, b := ts.do(t, "POST", "/v2/models/houses/infer", v2); code != 200 || !strings.Contains(string(b), `"data":[6.0000`) {
		t.Errorf("V2 without id: %d %s", code, b)
	}
	withID := `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [3]}, {"name": "id", "shape": [1], "datatype": "BYTES", "data": ["h1"]}]}`
	if code, b := ts.do(t, "POST", "/v2/models/houses/infer", withID); code != 200 {
		t.Errorf("V2 with id: %d %s", code, b)
	}
	// The rows a request may hold count the tensors of unused fields too.
	few := startServer(t, Config{Registry: reg, MaxRows: 2})
	few.waitReady(t)
	full := `{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [3, 4]}, {"name": "id", "shape": [2], "datatype": "BYTES", "data": ["h1", "h2"]}]}`
	if code, b := few.do(t, "POST", "/v2/models/houses/infer", full); code != 200 {
		t.Errorf("V2 with id at MaxRows: %d %s", code, b)
	}
	var md v2ModelMetadata
	ts.json(t, "GET", "/v2/models/houses", "", &md)
	if len(md.Inputs) != 1 || md.Inputs[0].Name != "x" {
		t.Errorf("V2 metadata inputs %+v, want x alone", md.Inputs)
	}
	if code, b := ts.do(t, "POST", "/v1/models/houses/predict", `{"row": {"y": 1}}`); code != 400 || !strings.Contains(string(b), `field \"x\": missing`) {
		t.Errorf("without x: %d %s", code, b)
	}
	if code, b := strict.do(t, "POST", "/v1/models/houses/predict", `{"row": {"x": 3, "id": "h1"}}`); code != 400 || !strings.Contains(string(b), `"field":"id"`) {
		t.Errorf("strict, with id: %d %s", code, b)
	}
	if code, b := strict.do(t, "POST", "/v2/models/houses/infer", withID); code != 400 || !strings.Contains(string(b), `input \"id\"`) {
		t.Errorf("strict V2 with id: %d %s", code, b)
	}
}

func TestNonFinitePredictionIsRefused(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)
	var e errorResponse
	code, b := ts.do(t, "POST", "/v1/models/price/predict", `{"rows": [{"x": 1}, {"x": 1e308}]}`)
	if err := json.Unmarshal(b, &e); err != nil || code != http.StatusUnprocessableEntity || e.Row == nil || *e.Row != 1 || !strings.Contains(e.Error, "rows[1]") {
		t.Errorf("native: %d %s; want 422 naming rows[1]", code, b)
	}
	code, b = ts.do(t, "POST", "/v2/models/price/infer", `{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, -1e308]}]}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "row 1") || strings.Contains(string(b), "null") {
		t.Errorf("V2: %d %s; want 422 naming row 1", code, b)
	}
}

func TestSmallRequestChecks(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)
	for _, c := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/v1/models/price/predict", `{"rows": null}`, 400, "want an array of rows"},
		{"/v1/models/price/versions/01/predict", `{"row": {"x": 1}}`, 400, "as 1 (no sign, no leading zeros)"},
		{"/v1/models/price/versions/00000000000000000001/predict", `{"row": {"x": 1}}`, 400, "no leading zeros"},
		{"/v2/models/price/versions/01/infer", `{"inputs": []}`, 400, "no leading zeros"},
		{"/v2/models/price/infer", `{"inputs": [{"name": "x", "shape": [4294967296], "datatype": "FP64", "data": [1]}]}`, 413, "4294967296 is more than the server takes"},
	} {
		if code, b := ts.do(t, "POST", c.path, c.body); code != c.code || !strings.Contains(string(b), c.want) {
			t.Errorf("POST %s %s: %d %s; want %d saying %q", c.path, c.body, code, b, c.code, c.want)
		}
	}
}

// TestSlowBodyGets408: a body that does not arrive within ReadTimeout is
// answered 408 before the connection closes.
func TestSlowBodyGets408(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg, ReadTimeout: 200 * time.Millisecond})
	ts.waitReady(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/models/price/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"rows\"")
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "did not arrive in time") {
		t.Errorf("%d %s; want 408", resp.StatusCode, b)
	}
}

// TestNetHTTPRejectionsAreCounted: requests net/http refuses before any
// handler runs are counted in the metrics.
func TestNetHTTPRejectionsAreCounted(t *testing.T) {
	ts := startServer(t, Config{Registry: newRegistry(t)})
	ts.waitReady(t)
	for _, raw := range []string{
		"GARBAGE\r\n\r\n",
		"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, raw) // the server may hang up before it has all of it
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil || resp.StatusCode < 400 {
			t.Fatalf("%.20q: %v %v", raw, resp, err)
		}
	}
	m := ts.metricsText(t)
	for _, want := range []string{
		`flint_serving_requests_total{code="400",model="",route="rejected by net/http",version=""} 1`,
		`flint_serving_requests_total{code="431",model="",route="rejected by net/http",version=""} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "requests_total"))
		}
	}
}
