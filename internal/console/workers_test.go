package console

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote"
	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/ml"
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
	con, err := New(Config{Workers: RemoteWorkers(d), Poll: 50 * time.Millisecond, Logger: trainertest.QuietLogger()})
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

// envWorker makes the test binary a worker process of the driver it names.
const envWorker = "FLINT_CONSOLE_TEST_DRIVER"

// workerProcess runs the test binary as a worker of the driver $envWorker
// names, and exits; it returns at once when the variable is not set.
func workerProcess() {
	addr := os.Getenv(envWorker)
	if addr == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err := remote.RunWorker(ctx, remote.WorkerConfig{Driver: addr, Logger: trainertest.QuietLogger()})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// startWorkerProcesses runs n worker processes (this test binary) for d,
// registered one at a time so that process i is worker w<i+1>.
func startWorkerProcesses(t *testing.T, d *remote.Driver, n int) []*exec.Cmd {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envWorker+"="+d.Addr())
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := d.WaitWorkers(ctx, i+1)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return cmds
}

// A cluster of three worker processes on loopback fits a model; one is
// killed (SIGKILL) and the next fit finds it gone and has its partitions
// read again by the survivors. The workers' data says so — the lost
// worker's loss and why, the survivors' recoveries naming the dataset,
// the partitions and the lost worker, every worker's completed tasks — and
// the workers page shows it without a reload.
func TestWorkersLossAndRecovery(t *testing.T) {
	d, err := remote.NewDriver(remote.Config{Listen: "127.0.0.1:0", HeartbeatInterval: 50 * time.Millisecond,
		HeartbeatTimeout: 5 * time.Second, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cmds := startWorkerProcesses(t, d, 3)
	con, err := New(Config{Workers: RemoteWorkers(d), Poll: 50 * time.Millisecond, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, con)
	ctx := tab(t)
	do(t, ctx, chromedp.Navigate(url+"/workers"), chromedp.WaitVisible("#workers"))

	src, err := cluster.PlanFiles([]string{trainertest.ClicksCSV(t)}, cluster.FileOptions{
		Format: cluster.Format{Kind: "csv", Header: true, Label: 2}, Partitions: 6})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	ds, err := d.LoadSources(bg, nil, "clicks", src)
	if err != nil {
		t.Fatal(err)
	}
	fit := func() {
		t.Helper()
		if _, err := (ml.LogisticRegression{Optimizer: ml.Settings{MaxIter: 5}}).Fit(bg, d, ds); err != nil {
			t.Fatal(err)
		}
	}
	fit()
	lost := d.Placement(ds)
	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmds[0].Wait()
	fit() // finds w1 gone, and moves its partitions

	ws := RemoteWorkers(d)()
	if len(ws) != 3 || ws[0].ID != "w1" || ws[0].Alive || !hasEvent(ws[0], "lost", "connection: ") {
		t.Fatalf("w1 after it was killed: %+v", ws)
	}
	var w1Parts []string
	for i, id := range lost {
		if id == "w1" {
			w1Parts = append(w1Parts, fmt.Sprint(i))
		}
	}
	recovered := 0
	for _, w := range ws[1:] {
		if !w.Alive || w.TasksCompleted == 0 || w.TasksRunning != 0 || w.TasksFailed != 0 {
			t.Errorf("survivor %s: alive %v, tasks %d running, %d completed, %d failed", w.ID, w.Alive, w.TasksRunning, w.TasksCompleted, w.TasksFailed)
		}
		for _, e := range w.Events {
			if e.Kind == "recovered" {
				recovered++
				if !strings.Contains(e.Text, `of dataset "clicks" again, lost with w1`) {
					t.Errorf("%s's recovery says %q", w.ID, e.Text)
				}
			}
		}
	}
	if recovered == 0 || len(w1Parts) == 0 || !hasEvent(ws[0], "recovered", "read again by w") {
		t.Fatalf("no recovery of w1's partitions %v recorded: %+v", w1Parts, ws)
	}

	// The page open all along shows it.
	waitJS(t, ctx, `document.getElementById("dead").textContent === "1"`)
	waitJS(t, ctx, `document.querySelector('#worker-events tr[data-worker="w1"][data-kind="lost"]') !== null`)
	waitJS(t, ctx, `[...document.querySelectorAll('#worker-events tr[data-kind="recovered"]')].some(r => r.innerText.includes("lost with w1"))`)
	// The recovery shows in an update made during the second fit; the
	// page's next update, after it, has w2 idle.
	waitJS(t, ctx, `document.querySelector('tr[data-worker="w2"] .tasks').innerText.includes("0 running")`)
	tasks := eval[string](t, ctx, `document.querySelector('tr[data-worker="w2"] .tasks').innerText`)
	if !strings.Contains(tasks, "0 running") || strings.Contains(tasks, " 0 done") {
		t.Errorf("w2's tasks read %q, want none running and some done", tasks)
	}
	docShot(t, ctx, "workers")
}

func hasEvent(w jobs.Worker, kind, text string) bool {
	for _, e := range w.Events {
		if e.Kind == kind && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}
