package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/trainer"
)

// clientServer is a job API on a loopback listener, behind the token, with
// a manager on a fresh store; wrap, if not nil, wraps the API's handler.
func clientServer(t *testing.T, cfg ManagerConfig, api APIConfig, wrap func(http.Handler) http.Handler) (*httptest.Server, *Manager) {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = newJobStore(t)
	}
	m := newManager(t, cfg)
	api.Manager, api.Logger = m, quietLogger()
	var h http.Handler = NewAPI(api)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { m.Close() }) // before srv.Close: ends event streams
	return srv, m
}

func newClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every call of the client against the API: submit, follow, get, list,
// workers, cancel, and the errors of each that callers test for.
func TestClientCalls(t *testing.T) {
	workers := []Worker{{ID: "w1", Name: "host/1", Addr: "127.0.0.1:7078", Alive: true}}
	srv, m := clientServer(t, ManagerConfig{}, APIConfig{Token: "s3cret", Workers: func() []Worker { return workers }}, nil)
	c := newClient(t, ClientConfig{URL: strings.TrimPrefix(srv.URL, "http://"), Token: "s3cret"})
	if c.URL() != srv.URL {
		t.Fatalf("URL() = %q for HOST:PORT, want %q", c.URL(), srv.URL)
	}
	ctx := context.Background()
	spec := jobSpec("clicks", clicksCSV(t))
	j, err := c.Submit(ctx, "clicks.yaml", []byte(spec))
	if err != nil || j.File != "clicks.yaml" || j.Spec != spec || j.Name != "clicks" {
		t.Fatalf("submit: %+v, %v", j, err)
	}
	var states []State
	done, err := c.Follow(ctx, j.ID, func(j Job) { states = append(states, j.State) }, func(err error) { t.Errorf("lost the stream: %v", err) })
	if err != nil || done.State != Succeeded || done.Result == nil || done.Result.Version != 1 || states[len(states)-1] != Succeeded {
		t.Fatalf("follow: %+v, %v (states %v)", done, err, states)
	}
	if got, err := c.Get(ctx, j.ID); err != nil || got.State != Succeeded || got.Spec != spec {
		t.Fatalf("get: %+v, %v", got, err)
	}
	if list, err := c.List(ctx, ""); err != nil || len(list) != 1 || list[0].ID != j.ID || list[0].Spec != "" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if list, err := c.List(ctx, Running); err != nil || len(list) != 0 {
		t.Fatalf("list running: %+v, %v", list, err)
	}
	if ws, err := c.Workers(ctx); err != nil || !reflect.DeepEqual(ws, workers) {
		t.Fatalf("workers: %+v, %v", ws, err)
	}
	var ae *APIError
	if _, err := c.Cancel(ctx, j.ID); !errors.Is(err, ErrFinished) || !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict {
		t.Fatalf("cancel a finished job: %v, want ErrFinished", err)
	}
	if _, err := c.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || err.Error() != fmt.Sprintf(`driver %s: no job "nope" (HTTP 404)`, srv.URL) {
		t.Fatalf("get an unknown job: %v, want ErrNotFound", err)
	}
	_, err = c.Submit(ctx, "bad.yaml", []byte("name: x\nsource: {files: [a.csv]}\nschema: {fields: [{name: a, type: numeric}]}\nalgorithm:\n  foo: {}\n"))
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "problem(s) in the job spec:\n  bad.yaml:5:3: algorithm.foo") {
		t.Fatalf("submit a bad spec: %v", err)
	}
	m.Close()
	if _, err := c.Submit(ctx, "job.yaml", []byte(spec)); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit to a closed manager: %v, want ErrClosed", err)
	}
}

// A wrong token, or none, gets the API's 401 as an error that matches
// ErrUnauthorized and says which it was; Follow does not retry it.
func TestClientToken(t *testing.T) {
	srv, _ := clientServer(t, ManagerConfig{}, APIConfig{Token: "s3cret"}, nil)
	ctx := context.Background()
	for _, c := range []struct{ token, want string }{
		{"wrong", "the bearer token is not valid (HTTP 401)"},
		{"", "the job API needs a bearer token"},
	} {
		cl := newClient(t, ClientConfig{URL: srv.URL, Token: c.token})
		_, err := cl.Submit(ctx, "job.yaml", []byte(jobSpec("x", "x.csv")))
		var ae *APIError
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), c.want) {
			t.Errorf("token %q: %v, want ErrUnauthorized saying %q", c.token, err, c.want)
		}
		if _, err := cl.Follow(ctx, "any", func(Job) {}, func(error) { t.Error("retried a 401") }); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("token %q: follow: %v, want ErrUnauthorized", c.token, err)
		}
	}
}

// iterGate lets a fit go on past an iteration only once the client has
// seen it.
type iterGate struct {
	mu   sync.Mutex
	seen int
	next chan struct{} // closed when seen grows
}

func (g *iterGate) saw(iter int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if iter > g.seen {
		g.seen = iter
		close(g.next)
		g.next = make(chan struct{})
	}
}

func (g *iterGate) wait(ctx context.Context, iter int) error {
	for {
		g.mu.Lock()
		seen, next := g.seen, g.next
		g.mu.Unlock()
		if seen >= iter {
			return nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return fmt.Errorf("the client never saw iteration %d", iter)
		}
	}
}

// eventStreams counts the event streams the API serves and records the
// first line each sends.
type eventStreams struct {
	mu    sync.Mutex
	first []string
	wrote chan int // the number of a stream, when it has sent its first line
}

func (s *eventStreams) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/events") {
			h.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		s.first = append(s.first, "")
		n := len(s.first)
		s.mu.Unlock()
		h.ServeHTTP(&firstLine{ResponseWriter: w, done: func(line []byte) {
			s.mu.Lock()
			s.first[n-1] = string(line)
			s.mu.Unlock()
			s.wrote <- n
		}}, r)
	})
}

// firstLine passes the first Write (an event stream's first line) to done.
type firstLine struct {
	http.ResponseWriter
	once sync.Once
	done func(line []byte)
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.once.Do(func() { f.done(p) })
	return f.ResponseWriter.Write(p)
}

func (f *firstLine) Unwrap() http.ResponseWriter { return f.ResponseWriter } // for Flush

// dropAt is the iteration at which TestFollowSurvivesADroppedStream drops
// the event stream.
const dropAt = 3

// lockstep is an observer that holds the fit at every iteration until the
// client has seen it, and at iteration dropAt until the second event stream
// has sent its first line (this iteration again).
func lockstep(t *testing.T, gate *iterGate, streams *eventStreams) trainer.Observer {
	return iterHook(func(trial int, p ml.Progress) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a guard against hanging only
		defer cancel()
		if trial != 0 {
			return
		}
		if p.Iter != dropAt {
			if err := gate.wait(ctx, p.Iter); err != nil {
				t.Error(err)
			}
			return
		}
		// Held here until the second stream has sent its first line:
		// this iteration again.
		for {
			select {
			case n := <-streams.wrote:
				if n < 2 {
					continue
				}
			case <-ctx.Done():
				t.Errorf("the client did not reconnect")
			}
			return
		}
	})
}

// The API server drops the event stream mid-job. The client reconnects
// and goes on: it sees every iteration of the fit, each once, and the
// state the new stream starts with, which it has already seen, is not
// passed on again.
func TestFollowSurvivesADroppedStream(t *testing.T) {
	gate := &iterGate{next: make(chan struct{})}
	streams := &eventStreams{wrote: make(chan int, 10)}
	srv, _ := clientServer(t, ManagerConfig{Observe: func(string) trainer.Observer { return lockstep(t, gate, streams) }},
		APIConfig{}, streams.wrap)
	c := newClient(t, ClientConfig{URL: srv.URL, ReconnectWait: time.Millisecond})
	ctx := context.Background()
	j, err := c.Submit(ctx, "job.yaml", []byte(jobSpec("dropped", clicksCSV(t))))
	if err != nil {
		t.Fatal(err)
	}
	var seen []Job
	var lost []error
	dropped := false
	done, err := c.Follow(ctx, j.ID, func(j Job) {
		seen = append(seen, j)
		if p := j.Progress; p != nil && p.Trial == 0 {
			if p.Iter == dropAt && !dropped {
				srv.CloseClientConnections()
				dropped = true
			}
			gate.saw(p.Iter)
		}
	}, func(err error) { lost = append(lost, err) })
	if err != nil || done.State != Succeeded || done.Result == nil || done.Result.Version != 1 {
		t.Fatalf("follow: %+v, %v", done, err)
	}
	if len(lost) != 1 {
		t.Fatalf("lost the stream %d times (%v), want once", len(lost), lost)
	}
	streams.mu.Lock()
	first := append([]string(nil), streams.first...)
	streams.mu.Unlock()
	if len(first) != 2 || !strings.Contains(first[1], fmt.Sprintf(`"iter":%d,`, dropAt)) {
		t.Fatalf("event streams, by their first line: %q; want 2, the second starting at iteration %d", first, dropAt)
	}
	checkEachStateOnce(t, seen, done)
}

// checkEachStateOnce fails unless seen, the states Follow passed on, holds
// no state twice in a row and every iteration of the fit, in order, through
// the last one of done.
func checkEachStateOnce(t *testing.T, seen []Job, done Job) {
	t.Helper()
	var iters []int
	for i, j := range seen {
		if i > 0 {
			a, _ := json.Marshal(seen[i-1])
			b, _ := json.Marshal(j)
			if string(a) == string(b) {
				t.Fatalf("state %d passed on twice: %s", i, b)
			}
		}
		if p := j.Progress; p != nil && (len(iters) == 0 || iters[len(iters)-1] != p.Iter) {
			iters = append(iters, p.Iter)
		}
	}
	for i := 1; i < len(iters); i++ {
		if iters[i] != iters[i-1]+1 {
			t.Fatalf("iterations seen: %v; want each once, in order", iters)
		}
	}
	if len(iters) < dropAt+2 || iters[0] > 1 || iters[len(iters)-1] != done.Progress.Iter {
		t.Fatalf("iterations seen: %v; want all of them, through %d", iters, done.Progress.Iter)
	}
}

// Following a job survives the driver ending the stream early (a restart)
// and stops at once on an answer that waiting will not change.
func TestFollowReconnects(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch {
		case r.URL.Path == "/v1/jobs/gone/events":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintln(w, `{"error":"no job \"gone\""}`)
		case n == 1: // the driver stops mid-job
			fmt.Fprintln(w, `{"id":"j","state":"running","attempts":1,"progress":{"iter":3,"max_iter":9,"loss":1,"grad_norm":1}}`)
		case n == 2: // and is not back yet
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"error":"the driver is shutting down"}`)
		default:
			fmt.Fprintln(w, `{"id":"j","state":"running","attempts":2}`)
			fmt.Fprintln(w, `{"id":"j","state":"succeeded","attempts":2,"result":{"model":"m","version":1}}`)
		}
	}))
	defer srv.Close()
	c := newClient(t, ClientConfig{URL: srv.URL, ReconnectWait: time.Millisecond})
	var states []string
	lost := 0
	j, err := c.Follow(context.Background(), "j", func(j Job) { states = append(states, fmt.Sprint(j.State, j.Attempts)) }, func(error) { lost++ })
	if err != nil || j.State != Succeeded || j.Result.Version != 1 {
		t.Fatalf("follow: %+v, %v", j, err)
	}
	mu.Lock()
	n := calls
	mu.Unlock()
	if strings.Join(states, " ") != "running1 running2 succeeded2" || lost != 1 || n != 3 {
		t.Fatalf("states %v, %d lost-stream notes, %d calls", states, lost, n)
	}
	_, err = c.Follow(context.Background(), "gone", func(Job) {}, func(error) { t.Error("retried a 404") })
	if err == nil || !strings.Contains(err.Error(), `no job "gone" (HTTP 404)`) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("follow an unknown job: %v", err)
	}
}

// With no driver at the URL, the error says so in one sentence.
func TestClientUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	_, err = newClient(t, ClientConfig{URL: url}).Submit(context.Background(), "job.yaml", []byte("name: x"))
	if !errors.Is(err, ErrUnreachable) || !strings.HasPrefix(err.Error(), "no driver answers at "+url+" (connect: connection refused); start one with flint driver") {
		t.Fatalf("no driver: %v", err)
	}
}

func TestNewClientURL(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"https://driver:8081/", "https://driver:8081"},
		{"ftp://host:1", ""},
		{"http://127.0.0.1:1/jobs", ""},
		{"http://host:1?x=1", ""},
		{"", ""},
	} {
		cl, err := NewClient(ClientConfig{URL: c.url})
		switch {
		case c.want == "" && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("URL %q: want http://HOST:PORT", c.url))):
			t.Errorf("NewClient(%q): %v, want an error naming the URL", c.url, err)
		case c.want != "" && (err != nil || cl.URL() != c.want):
			t.Errorf("NewClient(%q): %v, want URL %s", c.url, err, c.want)
		}
	}
}
