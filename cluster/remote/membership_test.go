package remote

import (
	"context"
	"fmt"
	"github.com/flintml/flint/internal/syncbuf"
	"log/slog"
	"math"
	"net"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
)

// countLines is the number of lines of s holding every one of parts.
func countLines(s *syncbuf.Buffer, parts ...string) int {
	n := 0
	for _, line := range strings.Split(s.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

func bufLogger(b *syncbuf.Buffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memberOf returns what d lists of the worker process cmd (named host/pid):
// its latest registration.
func memberOf(d *Driver, cmd *exec.Cmd) (WorkerInfo, bool) {
	var out WorkerInfo
	found := false
	for _, w := range d.Members() { // in registration order
		if strings.HasSuffix(w.Name, fmt.Sprintf("/%d", cmd.Process.Pid)) {
			out, found = w, true
		}
	}
	return out, found
}

// The scenario: a worker stopped with SIGSTOP while its driver is
// replaced by a new one on the same address. Resumed, it is told the new
// driver does not know it, drops its cache and registers afresh: the new
// driver lists all three workers live under its own registrations, uses
// them all, and detects the worker when it stops again.
func TestDriverRestartWorkersRejoinFresh(t *testing.T) {
	sources := fileSources(t, 3000, 6)
	const timeout = 2 * time.Second
	cfg := Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: timeout, Logger: quiet()}
	old, err := NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	cmds := startWorkers(t, old, 3, "")
	ctx := context.Background()
	ds, err := old.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	args := &sumArgs{Sleep: 20 * time.Millisecond, FailPart: -1}
	want, err := cluster.Aggregate(ctx, old, ds, sumTask, args)
	if err != nil {
		t.Fatal(err)
	}
	stopped := cmds[0]
	if err := stopped.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	old.Close()
	cfg.Listen = old.Addr()
	d := newDriver(t, cfg)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := d.WaitWorkers(wctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := stopped.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitWorkers(wctx, 3); err != nil {
		t.Fatal(err)
	}
	checkRejoinedFresh(t, d, cmds)
	ds2, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	if place := d.Placement(ds2); len(slices.Compact(slices.Sorted(slices.Values(place)))) != 3 {
		t.Fatalf("placement on the new driver: %v, want all 3 workers used", place)
	}
	got, err := cluster.Aggregate(ctx, d, ds2, sumTask, args)
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(got.Sum) != math.Float64bits(want.Sum) || got.Rows != want.Rows {
		t.Fatalf("on the new driver: sum %v over %d rows, on the old one %v over %d", got.Sum, got.Rows, want.Sum, want.Rows)
	}
	// Its heartbeats are its own: stopped again, it is detected in time.
	if err := stopped.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := cluster.Aggregate(ctx, d, ds2, sumTask, args); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > timeout+3*time.Second {
		t.Fatalf("a task with the worker stopped again took %v with a %v heartbeat timeout", took, timeout)
	}
	if w, ok := memberOf(d, stopped); !ok || w.Alive || w.Reason != lossHeartbeat {
		t.Fatalf("the worker stopped again: %+v (listed %v)", w, ok)
	}
}

// checkRejoinedFresh checks that every worker process is live on d, and
// that each has dropped what it cached for a previous driver.
func checkRejoinedFresh(t *testing.T, d *Driver, cmds []*exec.Cmd) {
	t.Helper()
	joined := time.Now()
	// (Live ones only: on a loaded machine a slow worker may have been
	// dropped and registered again under a new id.)
	var live []WorkerInfo
	for _, m := range d.Members() {
		if m.Alive {
			live = append(live, m)
		}
	}
	if len(live) != 3 {
		t.Fatalf("the new driver lists %d live workers, want 3: %+v", len(live), d.Members())
	}
	for i, c := range cmds {
		if w, ok := memberOf(d, c); !ok || !w.Alive {
			t.Fatalf("worker process %d (pid %d) is not live in the new driver: %+v", i, c.Process.Pid, d.Members())
		}
	}
	// Every worker dropped the old driver's cache: once each has sent a
	// heartbeat since, they report holding nothing.
	waitFor(t, 10*time.Second, "every worker heartbeats to the new driver", func() bool {
		for _, m := range d.Members() {
			if m.Alive && !m.LastHeartbeat.After(joined) {
				return false
			}
		}
		return true
	})
	for _, m := range d.Members() {
		if m.Alive && m.CachedBytes != 0 {
			t.Fatalf("worker %s (%s) reports %d cached bytes of the old driver's dataset", m.ID, m.Name, m.CachedBytes)
		}
	}
}

// A worker stopped with SIGTERM tells the driver it is leaving: the next
// task runs on the survivors at once, not after the heartbeat timeout, and
// the model is the in-process engine's.
func TestSIGTERMWorkerLeaves(t *testing.T) {
	sources := fileSources(t, 6000, 6)
	e, ref := engineDataset(t, nil, sources)
	const timeout = time.Minute // a missed Leave would hold the next task this long
	d := newDriver(t, Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: timeout})
	cmds := startWorkers(t, d, 3, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := cmds[1].Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 20*time.Second, "the driver counts 2 workers after SIGTERM", func() bool { return d.Workers() == 2 })
	got := fitLR(t, d, ds)
	if took := time.Since(start); took > timeout/2 {
		t.Fatalf("the fit after the worker left took %v (heartbeat timeout %v)", took, timeout)
	}
	sameLR(t, got, fitLR(t, e, ref))
	w, ok := memberOf(d, cmds[1])
	if !ok || w.Alive || w.Reason != lossLeft || w.CachedBytes != 0 {
		t.Fatalf("the worker stopped with SIGTERM: %+v (listed %v)", w, ok)
	}
	for i, id := range d.Placement(ds) {
		if id == w.ID {
			t.Fatalf("partition %d is still placed on the worker that left", i)
		}
	}
}

// Dead workers report no cached bytes and leave Members after
// Config.DeadGrace.
func TestDeadWorkersLeaveMembers(t *testing.T) {
	const grace = 2 * time.Second
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, DeadGrace: grace})
	cmds := startWorkers(t, d, 2, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, fileSources(t, 1000, 4), "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "w1 reports its cached bytes", func() bool { w, _ := memberOf(d, cmds[0]); return w.CachedBytes > 0 })
	cmds[0].Process.Kill()
	cmds[0].Wait()
	if _, err := cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: -1}); err != nil { // finds w1 gone
		t.Fatal(err)
	}
	died := time.Now()
	ms := d.Members()
	if len(ms) != 2 || ms[0].ID != "w1" || ms[0].Alive || ms[0].CachedBytes != 0 || ms[0].Reason != lossConnection {
		t.Fatalf("members right after w1 was killed: %+v", ms)
	}
	waitFor(t, grace+10*time.Second, "the dead worker leaves Members", func() bool { return len(d.Members()) == 1 })
	if since := time.Since(died); since < grace/2 {
		t.Fatalf("the dead worker left Members %v after it died, before the %v grace", since, grace)
	}
	if ms := d.Members(); ms[0].ID != "w2" || !ms[0].Alive {
		t.Fatalf("members after the grace: %+v", ms)
	}
}

// A worker started before its driver says at once that it waits for it; a
// worker whose driver goes away warns once, retries quietly (Debug), and
// says once that the driver is back.
func TestWorkerWaitsAndReconnectsQuietly(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunWorker(ctx, WorkerConfig{Driver: addr, Name: "early", Logger: bufLogger(&logs, slog.LevelDebug)})
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, 10*time.Second, "the worker says it waits for the driver", func() bool {
		return countLines(&logs, "level=INFO", "waiting for the driver at "+addr) == 1
	})
	cfg := Config{Listen: addr, HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, Logger: quiet()}
	d, err := NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := d.WaitWorkers(wctx, 1); err != nil {
		t.Fatal(err)
	}
	d.Close()
	waitFor(t, 20*time.Second, "the worker retries at least 4 times", func() bool {
		return countLines(&logs, "level=DEBUG", "driver still unreachable") >= 4
	})
	if n := countLines(&logs, "level=WARN"); n != 1 || countLines(&logs, "level=WARN", "driver at "+addr+" unreachable; retrying") != 1 {
		t.Fatalf("%d warnings while the driver was away, want 1 saying it is unreachable:\n%s", n, logs.String())
	}
	d2 := newDriver(t, cfg)
	if err := d2.WaitWorkers(wctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the worker says the driver is back", func() bool {
		return countLines(&logs, "level=INFO", "driver at "+addr+" reachable again") == 1
	})
	if n := countLines(&logs, "level=WARN"); n != 1 {
		t.Fatalf("%d warnings in all, want 1:\n%s", n, logs.String())
	}
}

// Calls with a missing or wrong secret are refused, logged once a minute
// per peer on either side, and counted by the driver.
func TestRefusedAuthLoggedAndCounted(t *testing.T) {
	var dlogs, wlogs syncbuf.Buffer
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, Secret: "s3cret",
		Logger: bufLogger(&dlogs, slog.LevelInfo)})
	for _, secret := range []string{"wrong", "wrong", ""} {
		err := RunWorker(context.Background(), WorkerConfig{Driver: d.Addr(), Secret: secret, Logger: quiet()})
		if err == nil || !strings.Contains(err.Error(), "shared secret") {
			t.Fatalf("worker with the secret %q: %v", secret, err)
		}
	}
	if n := countLines(&dlogs, "level=WARN", "driver refused a call from 127.0.0.1:", "the shared secret did not match"); n != 1 || countLines(&dlogs, "refused") != 1 {
		t.Fatalf("the driver logged %d refusals of 3 calls from one host, want 1 (the first):\n%s", countLines(&dlogs, "refused"), dlogs.String())
	}
	if got := metricValue(t, d, "flint_cluster_auth_refused_total", nil); got != 3 {
		t.Fatalf("flint_cluster_auth_refused_total = %v, want 3", got)
	}
	goWorkersWith(t, d, 1, WorkerConfig{Secret: "s3cret", Logger: bufLogger(&wlogs, slog.LevelInfo)})
	conn, err := grpc.NewClient(d.Members()[0].Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 2 {
		_, err = remotepb.NewWorkerClient(conn).Drop(context.Background(), &remotepb.DropRequest{Dataset: 1})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("a call to a worker without the secret: %v", err)
		}
	}
	if n := countLines(&wlogs, "level=WARN", "worker go0 refused a call from 127.0.0.1:", "the shared secret was missing"); n != 1 {
		t.Fatalf("the worker logged %d refusals of 2 calls without the secret, want 1:\n%s", n, wlogs.String())
	}
}

// A worker refuses calls made under a registration it does not hold, and a
// driver answers heartbeats of registrations it does not hold with
// Known=false.
func TestRegistrationsAreChecked(t *testing.T) {
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	goWorkers(t, d, 1, "")
	w := d.Members()[0]
	conn, err := grpc.NewClient(w.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := remotepb.NewWorkerClient(conn)
	for _, reg := range []string{"", registration("0123456789abcdef", w.ID), registration(d.epoch, "w2")} {
		ctx := context.Background()
		if reg != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, regKey, reg)
		}
		_, err := client.Drop(ctx, &remotepb.DropRequest{Dataset: 1})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "the worker holds "+registration(d.epoch, w.ID)) {
			t.Fatalf("a call under registration %q: %v", reg, err)
		}
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), regKey, registration(d.epoch, w.ID))
	if _, err := client.Drop(ctx, &remotepb.DropRequest{Dataset: 1}); err != nil {
		t.Fatalf("a call under the worker's registration: %v", err)
	}

	d.mu.Lock()
	inc := d.workers[w.ID].incarnation
	d.mu.Unlock()
	for _, c := range []struct {
		req   *remotepb.HeartbeatRequest
		known bool
	}{
		{&remotepb.HeartbeatRequest{WorkerId: w.ID, Epoch: d.epoch, Incarnation: inc}, true},
		{&remotepb.HeartbeatRequest{WorkerId: w.ID, Epoch: "0123456789abcdef", Incarnation: inc}, false},
		{&remotepb.HeartbeatRequest{WorkerId: w.ID, Epoch: d.epoch, Incarnation: "another process"}, false},
		{&remotepb.HeartbeatRequest{WorkerId: "w7", Epoch: d.epoch, Incarnation: inc}, false},
	} {
		r, err := d.Heartbeat(context.Background(), c.req)
		if err != nil || r.Known != c.known {
			t.Fatalf("heartbeat %v: known=%v, %v; want known=%v", c.req, r.GetKnown(), err, c.known)
		}
	}
	if n := d.Workers(); n != 1 {
		t.Fatalf("%d live workers after heartbeats of stale registrations, want 1", n)
	}
}

// A job that loses every worker at once goes on when a worker joins within
// Config.WorkerWait: the newcomer re-reads every partition and the task
// gives the same result.
func TestAllWorkersLostThenOneJoins(t *testing.T) {
	sources := fileSources(t, 2000, 4)
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 2 * time.Second, WorkerWait: 20 * time.Second})
	cmds := startWorkers(t, d, 1, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	args := &sumArgs{Sleep: 20 * time.Millisecond, FailPart: -1}
	want, err := cluster.Aggregate(ctx, d, ds, sumTask, args)
	if err != nil {
		t.Fatal(err)
	}
	cmds[0].Process.Kill()
	cmds[0].Wait()
	type result struct {
		p   *sumP
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := cluster.Aggregate(ctx, d, ds, sumTask, args)
		done <- result{p, err}
	}()
	for d.Workers() != 0 { // the task finds its only worker gone, and waits
		time.Sleep(5 * time.Millisecond)
	}
	startWorkersB(t, d, 1, "")
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	got := r.p
	if math.Float64bits(got.Sum) != math.Float64bits(want.Sum) || got.Rows != want.Rows {
		t.Fatalf("after losing every worker: sum %v over %d rows, want %v over %d", got.Sum, got.Rows, want.Sum, want.Rows)
	}
	if got := strings.Join(d.Placement(ds), " "); got != "w2 w2 w2 w2" {
		t.Fatalf("placement after the new worker took over: %s", got)
	}
}
