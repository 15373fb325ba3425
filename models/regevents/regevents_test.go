package regevents

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

// next reads the next change or fails after a generous deadline.
func next(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("the subscription ended")
		}
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for a change")
	}
	return Change{}
}

// TestSubscribe: changes made through the registry arrive in order; a
// dropped connection resumes without a reset and without losing the
// changes made while it was down.
func TestSubscribe(t *testing.T) {
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(st)
	hub := NewHub(reg)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := Subscribe(ctx, srv.URL, Options{MinBackoff: time.Millisecond})
	if c := next(t, ch); !c.Reset {
		t.Fatalf("first change %+v, want a reset (nothing to resume from)", c)
	}
	a := &models.Artifact{Algorithm: "linear", Params: []byte("x")}
	ctxb := context.Background()
	if _, err := reg.Publish(ctxb, "m", a); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c != (Change{Model: "m", Revision: 1}) {
		t.Fatalf("got %+v, want m at revision 1", c)
	}
	// Cut the connection, change twice while the client is away.
	srv.CloseClientConnections()
	if err := reg.SetAlias(ctxb, "m", "production", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Publish(ctxb, "n", a); err != nil {
		t.Fatal(err)
	}
	got := []Change{next(t, ch), next(t, ch)}
	want := []Change{{Model: "m", Revision: 2}, {Model: "n", Revision: 1}}
	if got[0] != want[0] || got[1] != want[1] {
		t.Errorf("after reconnecting: %+v, want %+v (resumed, no reset)", got, want)
	}
}

func TestResume(t *testing.T) {
	hub := NewHub(nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	for range DefaultBacklog + 5 {
		hub.Publish("m", 1)
	}
	tests := []struct {
		name, last string
		want       string // the first event's type and id
	}{
		{"no id", "", "reset " + hub.id(DefaultBacklog+5)},
		{"other epoch", "0000000000000000-3", "reset " + hub.id(DefaultBacklog+5)},
		{"left the backlog", hub.id(2), "reset " + hub.id(DefaultBacklog+5)},
		{"oldest kept", hub.id(5), "change " + hub.id(6)},
		{"in the backlog", hub.id(DefaultBacklog + 3), "change " + hub.id(DefaultBacklog+4)},
		{"ahead", hub.id(DefaultBacklog + 9), "reset " + hub.id(DefaultBacklog+5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			if tc.last != "" {
				req.Header.Set("Last-Event-ID", tc.last)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			stop := errors.New("stop")
			var first event
			err = readEvents(resp.Body, func(ev event) error { first = ev; return stop })
			if !errors.Is(err, stop) {
				t.Fatal(err)
			}
			if got := first.name + " " + first.id; got != tc.want {
				t.Errorf("first event %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadEvents(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"id: 1\nevent: change\ndata: {\"model\":\"m\",\"revision\":2}\n\n: keepalive\n\n", "change 1 {\"model\":\"m\",\"revision\":2};", ""},
		{"event: reset\ndata: {}\n\nevent: change\ndata: a\ndata: b\n\n", "reset  {};change  a\nb;", ""},
		{"bogus: 1\n\n", "", `line 1: unknown field "bogus"`},
		{"data: " + strings.Repeat("x", maxLine) + "\n", "", "longer than"},
	}
	for _, tc := range tests {
		var got strings.Builder
		err := readEvents(strings.NewReader(tc.in), func(ev event) error {
			got.WriteString(ev.name + " " + ev.id + " " + ev.data + ";")
			return nil
		})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("readEvents(%.40q) = %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("readEvents(%.40q) = %q, %v; want %q", tc.in, got.String(), err, tc.want)
		}
	}
}

func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("id: e-1\nevent: change\ndata: {\"model\":\"m\",\"revision\":2}\n\n"))
	f.Add([]byte("event: reset\ndata: {}\n\n: c\nretry: 5\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readEvents(strings.NewReader(string(b)), func(ev event) error {
			c, err := ev.change()
			if err == nil && !c.Reset && c.Model == "" {
				t.Fatalf("a change of no model from %q", b)
			}
			return nil
		})
	})
}
