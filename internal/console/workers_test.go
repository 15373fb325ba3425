package console

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flintml/flint/cluster/remote"
	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/trainer/jobs"
)

// The workers page lists a real driver's workers, with their memory
// limits, and shows a worker that leaves as dead without a reload.
func TestBrowserWorkers(t *testing.T) {
	ctx := tab(t)
	d, err := remote.NewDriver(remote.Config{Listen: "127.0.0.1:0", HeartbeatInterval: 50 * time.Millisecond,
		HeartbeatTimeout: time.Second, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	wctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	for _, name := range []string{"w1", "w2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = remote.RunWorker(wctx, remote.WorkerConfig{Driver: d.Addr(), Name: name, MemoryLimit: 64 << 20,
				Logger: trainertest.QuietLogger()})
		}()
	}
	if err := d.WaitWorkers(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	con, err := New(Config{Workers: func() []jobs.Worker {
		var ws []jobs.Worker
		for _, w := range d.Members() {
			ws = append(ws, jobs.Worker{ID: w.ID, Name: w.Name, Addr: w.Addr, Alive: w.Alive, CachedBytes: w.CachedBytes,
				MemoryLimit: w.MemoryLimit, HeapLiveBytes: w.HeapLiveBytes, LastHeartbeat: w.LastHeartbeat, Reason: w.Reason})
		}
		return ws
	}, Poll: 50 * time.Millisecond, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, con)
	do(t, ctx, chromedp.Navigate(url+"/workers"), chromedp.WaitVisible("#workers"))
	body := eval[string](t, ctx, `document.getElementById("workers").innerText`)
	for _, want := range []string{"w1", "w2", "alive", "64.0 MiB"} {
		if !strings.Contains(body, want) {
			t.Errorf("workers table lacks %q:\n%s", want, body)
		}
	}
	stop() // both workers leave
	wg.Wait()
	waitJS(t, ctx, `document.getElementById("dead").textContent === "2"`)
}
