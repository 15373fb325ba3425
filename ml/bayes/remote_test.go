package bayes

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/cluster/remote"
)

// startRemote starts a driver and n workers in this process (goroutines of
// RunWorker, which find the fit task in this binary's registry) and waits
// until they have registered. Partials and broadcasts cross gRPC as gob.
func startRemote(t *testing.T, n int) *remote.Driver {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := remote.NewDriver(remote.Config{Logger: quiet, HeartbeatInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, n)
	for i := range n {
		go func() {
			done <- remote.RunWorker(ctx, remote.WorkerConfig{Driver: d.Addr(), Name: fmt.Sprintf("w%d", i), Parallelism: 1, Logger: quiet})
		}()
	}
	t.Cleanup(func() {
		d.Close()
		cancel()
		for range n {
			<-done
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := d.WaitWorkers(wctx, n); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRemoteWorkersSameBits: a fit on remote workers gives the bytes of
// the same fit on the in-process engine, and a data error comes back
// naming the row and partition.
func TestRemoteWorkersSameBits(t *testing.T) {
	d := startRemote(t, 2)
	e := newEngine(t, 1)
	for _, mt := range []string{Multinomial, Bernoulli, Gaussian} {
		for _, sparse := range []bool{false, true} {
			t.Run(fmt.Sprintf("type=%s/sparse=%v", mt, sparse), func(t *testing.T) {
				data := synthetic(31, 2000, 8, 3, mt, 50, true)
				want := encode(t, fit(t, e, data.load(t, e, 5, sparse), Config{ModelType: mt}))
				ds := data.load(t, d, 5, sparse)
				defer d.Drop(ds)
				if got := encode(t, fit(t, d, ds, Config{ModelType: mt})); !bytes.Equal(got, want) {
					t.Error("the model fitted on remote workers differs from the engine's")
				}
			})
		}
	}
	bad := synthetic(32, 100, 4, 2, Multinomial, 0, false)
	bad.x[70*4+1] = -2
	ds := bad.load(t, d, 2, false)
	defer d.Drop(ds)
	_, err := Fit(context.Background(), d, ds, Config{})
	if err == nil || !strings.Contains(err.Error(), "feature 1 of row 20 in partition 1 is -2") {
		t.Errorf("remote fit of a negative count: %v", err)
	}
}
