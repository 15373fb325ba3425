package serving

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

// TestWatchStream: a server that polls the store only once an hour
// follows the event stream of the server that publishes, so a new version
// and an alias moved through the admin API are served at once; only the
// stream can explain it within the test's deadline.
func TestWatchStream(t *testing.T) {
	dir := t.TempDir()
	open := func() *models.Registry {
		st, err := local.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return models.NewRegistry(st)
	}
	pub := open()
	publish(t, pub, "price", priceModel(1).artifact(t))
	a := startServer(t, Config{Registry: pub, WatchInterval: time.Hour, Tokens: []Token{{ScopeAdmin, "adm"}}})
	a.waitReady(t)
	b := startServer(t, Config{Registry: open(), WatchInterval: time.Hour, DefaultAlias: "production",
		WatchURL: a.url + "/v1/registry/events", WatchToken: "adm"})
	b.waitReady(t)

	serves := func(ref string, version int) func() bool {
		return func() bool {
			var d modelDetail
			code, _ := b.do(t, "GET", "/v1/models/price", "")
			if code != http.StatusOK {
				return false
			}
			b.json(t, "GET", "/v1/models/price", "", &d)
			return d.Serving[ref] == version
		}
	}
	waitWithin(t, "server b to serve version 1", serves("default", 1))

	// A version published through the publisher's registry.
	publish(t, pub, "price", priceModel(2).artifact(t))
	waitWithin(t, "server b to serve version 2 as latest", serves("latest", 2))
	var out predictResponse
	b.json(t, "POST", "/v1/models/price/predict", `{"row":{"x":1}}`, &out)
	if out.Version != 2 {
		t.Errorf("predict answered version %d, want 2", out.Version)
	}

	// An alias moved through the publisher's admin API.
	if code, body := a.do(t, "PUT", "/v1/models/price/aliases/production", `{"version":1}`, "Authorization", "Bearer adm"); code != http.StatusOK {
		t.Fatalf("move the alias: %d %s", code, body)
	}
	waitWithin(t, "server b to serve the production alias", serves("default", 1))
	b.json(t, "POST", "/v1/models/price/predict", `{"row":{"x":1}}`, &out)
	if out.Version != 1 {
		t.Errorf("predict answered version %d after the alias moved to 1", out.Version)
	}
}

// waitWithin waits for cond with a deadline far below the servers' poll
// interval (1h), so that only the event stream can satisfy it.
func waitWithin(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchURLValidation(t *testing.T) {
	for _, u := range []string{"localhost:8080", "ftp://x/events", "http://"} {
		_, err := New(Config{Registry: newRegistry(t), WatchURL: u})
		if err == nil || !strings.Contains(err.Error(), "WatchURL: ") {
			t.Errorf("WatchURL %q: %v, want an error naming WatchURL", u, err)
		}
	}
}
