package jobs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

// apiServer is a job API on a loopback listener, with a manager on a
// fresh store.
type apiServer struct {
	url   string
	m     *Manager
	store models.Store
	token string
	api   *API
}

func newAPIServer(t *testing.T, cfg ManagerConfig, api APIConfig) *apiServer {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = newJobStore(t)
	}
	m := newManager(t, cfg)
	api.Manager = m
	if api.Logger == nil {
		api.Logger = quietLogger()
	}
	a := NewAPI(api)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { m.Close() }) // before srv.Close: ends event streams
	return &apiServer{url: srv.URL, m: m, store: cfg.Store, token: api.Token, api: a}
}

// do sends a request and decodes a JSON answer into out (unless nil).
func (s *apiServer) do(t *testing.T, method, path, contentType string, body []byte, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp
}

func (s *apiServer) submit(t *testing.T, name, spec string) Job {
	t.Helper()
	var j Job
	resp := s.do(t, http.MethodPost, "/v1/jobs?name="+name, "application/yaml", []byte(spec), &j)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: %d %+v", resp.StatusCode, j)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/jobs/"+j.ID {
		t.Fatalf("Location %q for job %s", loc, j.ID)
	}
	return j
}

// poll gets the job until it is in a final state.
func (s *apiServer) poll(t *testing.T, id string) Job {
	t.Helper()
	for {
		var j Job
		if resp := s.do(t, http.MethodGet, "/v1/jobs/"+id, "", nil, &j); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET job %s: %d", id, resp.StatusCode)
		}
		if j.State.Final() {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAPISubmitPollList(t *testing.T) {
	workers := []Worker{{ID: "w1", Name: "host/1", Addr: "127.0.0.1:7078", Alive: true, TasksRunning: 1, TasksCompleted: 7, TasksFailed: 1,
		Events: []WorkerEvent{{At: time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC), Kind: "recovered", Text: `read 1 partition [2] of dataset "d" again, lost with w2`}}}}
	s := newAPIServer(t, ManagerConfig{}, APIConfig{Workers: func() []Worker { return workers }})
	spec := jobSpec("clicks", clicksCSV(t))
	j := s.submit(t, "clicks.yaml", spec)
	if j.File != "clicks.yaml" || j.Spec != spec || j.Name != "clicks" {
		t.Fatalf("submitted %+v", j)
	}
	j = s.poll(t, j.ID)
	if j.State != Succeeded || j.Result == nil || j.Result.Model != "clicks" || j.Result.Version != 1 || j.Spec != spec {
		t.Fatalf("finished %+v (result %+v)", j, j.Result)
	}
	if _, vi, err := models.NewRegistry(s.store).Latest(context.Background(), "clicks"); err != nil || vi.Version != 1 {
		t.Fatalf("the model was not published: %v", err)
	}

	var list List
	s.do(t, http.MethodGet, "/v1/jobs", "", nil, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != j.ID || list.Jobs[0].Spec != "" || list.Jobs[0].State != Succeeded {
		t.Fatalf("GET /v1/jobs: %+v", list)
	}
	list = List{}
	s.do(t, http.MethodGet, "/v1/jobs?state=running", "", nil, &list)
	if list.Jobs == nil || len(list.Jobs) != 0 {
		t.Fatalf("GET /v1/jobs?state=running: %+v, want an empty list", list)
	}
	var eb ErrorBody
	if resp := s.do(t, http.MethodGet, "/v1/jobs?state=done", "", nil, &eb); resp.StatusCode != http.StatusBadRequest || !strings.Contains(eb.Error, `unknown job state "done"`) {
		t.Fatalf("?state=done: %d %+v", resp.StatusCode, eb)
	}
	if resp := s.do(t, http.MethodGet, "/v1/jobs/nope", "", nil, &eb); resp.StatusCode != http.StatusNotFound || eb.Error != `no job "nope"` {
		t.Fatalf("unknown job: %d %+v", resp.StatusCode, eb)
	}
	if resp := s.do(t, http.MethodDelete, "/v1/jobs/"+j.ID, "", nil, &eb); resp.StatusCode != http.StatusConflict || !strings.Contains(eb.Error, "already finished") {
		t.Fatalf("cancel a finished job: %d %+v", resp.StatusCode, eb)
	}
	var wl WorkerList
	s.do(t, http.MethodGet, "/v1/workers", "", nil, &wl)
	if !reflect.DeepEqual(wl.Workers, workers) {
		t.Fatalf("GET /v1/workers: %+v", wl)
	}
	var h map[string]string
	if resp := s.do(t, http.MethodGet, "/healthz", "", nil, &h); resp.StatusCode != http.StatusOK || h["status"] != "ok" {
		t.Fatalf("healthz: %d %v", resp.StatusCode, h)
	}
	s.m.Close()
	if resp := s.do(t, http.MethodGet, "/healthz", "", nil, &h); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz of a closed manager: %d %v", resp.StatusCode, h)
	}
	if resp := s.do(t, http.MethodPost, "/v1/jobs", "text/plain", []byte(spec), &eb); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("submit to a closed manager: %d %+v", resp.StatusCode, eb)
	}
}

func TestAPIRejectsBadSubmissions(t *testing.T) {
	s := newAPIServer(t, ManagerConfig{}, APIConfig{MaxBodyBytes: 4096})
	bad := "name: x\nsource: {files: [a.csv]}\nschema: {fields: [{name: a, type: numeric}]}\nalgorithm:\n  foo: {}\nevaluation: {test_fraction: 2}\n"
	var eb ErrorBody
	resp := s.do(t, http.MethodPost, "/v1/jobs?name=bad.yaml", "application/yaml", []byte(bad), &eb)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(eb.Error, "problem(s) in the job spec") || len(eb.Problems) < 2 {
		t.Fatalf("bad spec: %d %+v", resp.StatusCode, eb)
	}
	if !strings.HasPrefix(eb.Problems[0], "bad.yaml:5:3: algorithm.foo") || !strings.Contains(strings.Join(eb.Problems, "\n"), "bad.yaml:6:") {
		t.Fatalf("problems do not name file:line:column and field:\n%s", strings.Join(eb.Problems, "\n"))
	}
	for _, c := range []struct {
		name, path, ctype string
		body              []byte
		status            int
		want              string
	}{
		{"too large", "/v1/jobs", "application/yaml", bytes.Repeat([]byte("#"), 4097), http.StatusRequestEntityTooLarge, "larger than 4096 bytes"},
		{"form", "/v1/jobs", "application/x-www-form-urlencoded", []byte(bad), http.StatusUnsupportedMediaType, "--data-binary"},
		{"json", "/v1/jobs", "application/json", []byte("{}"), http.StatusUnsupportedMediaType, `"application/json"`},
		{"control character in name", "/v1/jobs?name=a%0Ab", "", []byte(bad), http.StatusBadRequest, "?name="},
		{"empty", "/v1/jobs", "", nil, http.StatusBadRequest, "job.yaml: the file is empty"},
		{"no route", "/v1/nothing", "", nil, http.StatusNotFound, "no route"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var eb ErrorBody
			resp := s.do(t, http.MethodPost, c.path, c.ctype, c.body, &eb)
			if resp.StatusCode != c.status || !strings.Contains(eb.Error+strings.Join(eb.Problems, "\n"), c.want) {
				t.Fatalf("%d %+v, want %d and %q", resp.StatusCode, eb, c.status, c.want)
			}
		})
	}
	if jobs := s.m.List(""); len(jobs) != 0 {
		t.Fatalf("rejected submissions queued jobs: %+v", jobs)
	}
}

func TestAPIAuth(t *testing.T) {
	s := newAPIServer(t, ManagerConfig{}, APIConfig{Token: "s3cret"})
	for _, c := range []struct {
		auth   string
		status int
	}{{"", http.StatusUnauthorized}, {"Bearer nope", http.StatusUnauthorized}, {"Basic czNjcmV0", http.StatusUnauthorized}, {"bearer s3cret", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/v1/jobs", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("Authorization %q: %d, want %d", c.auth, resp.StatusCode, c.status)
		}
		if c.status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: no WWW-Authenticate: Bearer", c.auth)
		}
	}
	resp, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz without a token: %d", resp.StatusCode)
	}
}

func TestAPICancelRunning(t *testing.T) {
	reached := make(chan string, 1)
	var s *apiServer
	var once sync.Once
	s = newAPIServer(t, ManagerConfig{Observe: func(id string) trainer.Observer {
		return iterHook(func(_ int, p ml.Progress) {
			if p.Iter == 2 {
				once.Do(func() { reached <- id; waitCancelRequested(s.m, id) })
			}
		})
	}}, APIConfig{})
	j := s.submit(t, "job.yaml", jobSpec("stopped", clicksCSV(t)))
	<-reached
	var got Job
	resp := s.do(t, http.MethodDelete, "/v1/jobs/"+j.ID, "", nil, &got)
	if resp.StatusCode != http.StatusOK || got.State != Canceled || !got.CancelRequested {
		t.Fatalf("DELETE a running job: %d %+v", resp.StatusCode, got)
	}
	var eb ErrorBody
	if resp := s.do(t, http.MethodDelete, "/v1/jobs/"+j.ID, "", nil, &eb); resp.StatusCode != http.StatusConflict {
		t.Fatalf("DELETE it again: %d %+v", resp.StatusCode, eb)
	}
	if _, err := models.NewRegistry(s.store).Describe(context.Background(), "stopped"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a canceled job published: %v", err)
	}
	if rec := record(t, s.store, j.ID); rec.State != Canceled {
		t.Fatalf("stored state %s", rec.State)
	}
}

func TestAPIEventsStream(t *testing.T) {
	seen := make(chan struct{})
	s := newAPIServer(t, ManagerConfig{Observe: func(string) trainer.Observer {
		return iterHook(func(_ int, p ml.Progress) {
			if p.Iter == 2 {
				<-seen // hold the fit until the stream has shown iteration 2
			}
		})
	}}, APIConfig{})
	j := s.submit(t, "job.yaml", jobSpec("streamed", clicksCSV(t)))
	resp, err := http.Get(s.url + "/v1/jobs/" + j.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/x-ndjson" {
		t.Fatalf("events: %d %q", resp.StatusCode, ct)
	}
	var lines []Job
	sc := bufio.NewScanner(resp.Body)
	sawIter2 := false
	for sc.Scan() {
		var ev Job
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		if ev.ID != j.ID || ev.Spec != "" {
			t.Fatalf("event %+v", ev)
		}
		lines = append(lines, ev)
		if !sawIter2 && ev.Progress != nil && ev.Progress.Iter == 2 {
			sawIter2 = true
			if ev.State != Running || ev.Progress.MaxIter != 100 || ev.Phase != "training logistic_regression" || !(ev.Progress.Step > 0) {
				t.Fatalf("iteration event %+v (progress %+v)", ev, ev.Progress)
			}
			close(seen)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !sawIter2 {
		close(seen)
		t.Fatalf("the stream never showed iteration 2: %+v", lines)
	}
	last := lines[len(lines)-1]
	if last.State != Succeeded || last.Result == nil || last.Result.Version != 1 {
		t.Fatalf("the stream ended with %+v", last)
	}
	for _, ev := range lines[:len(lines)-1] {
		if ev.State.Final() {
			t.Fatalf("a final state before the last line: %+v", lines)
		}
	}
	// A finished job's stream is its final state, once.
	resp2, err := http.Get(s.url + "/v1/jobs/" + j.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), `"state":"succeeded"`) {
		t.Fatalf("events of a finished job: %s", b)
	}
}

// FuzzSubmitBody feeds arbitrary bodies, Content-Types and names to the
// decoding behind POST /v1/jobs: it must never panic, must answer every bad
// input with a client error, and every spec problem must name the file.
func FuzzSubmitBody(f *testing.F) {
	f.Add("application/yaml", "job.yaml", []byte(jobSpec("x", "a.csv")))
	f.Add("text/plain; charset=utf-8", "", []byte("name: x\nalgorithm:\n  foo: {}\n"))
	f.Add("", "j.yaml", []byte("{{{"))
	f.Add("application/json", "j.yaml", []byte("{}"))
	f.Add("application/yaml", "a\x00b", []byte("name: [\n"))
	f.Add("text/yaml", "j.yaml", []byte("&a [*a]"))
	f.Add("application/yaml", "j.yaml", []byte("name: x\nsource: {files: [a]}\nschema: {fields: [{name: a, type: vector, dim: -1}]}\nalgorithm: {kmeans: {k: 0}}\n"))
	const limit = 1 << 12
	f.Fuzz(func(t *testing.T, ctype, name string, body []byte) {
		file, spec, err := decodeSubmission(ctype, name, bytes.NewReader(body), limit)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 || ae.Msg == "" {
				t.Fatalf("decode error %v is not a client error", err)
			}
			return
		}
		if len(body) > limit || !bytes.Equal(spec, body) || file == "" {
			t.Fatalf("accepted %d bytes as %q (%d bytes)", len(body), file, len(spec))
		}
		s, err := trainer.ParseSpec(file, spec)
		if err != nil {
			var se trainer.SpecErrors
			if !errors.As(err, &se) || len(se) == 0 {
				t.Fatalf("ParseSpec error %T %v is not SpecErrors", err, err)
			}
			for _, e := range se {
				if !strings.HasPrefix(e.Error(), file+":") {
					t.Fatalf("problem %q does not start with the file name %q", e.Error(), file)
				}
			}
			return
		}
		if s == nil || s.Name == "" {
			t.Fatalf("a valid spec without a name: %+v", s)
		}
	})
}
