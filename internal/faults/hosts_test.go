package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/internal/netns"
	"github.com/flintml/flint/trainer/jobs"
)

// Timing of the simulated cluster: short, so that faults are noticed fast,
// but long enough that a loaded 2-core machine does not declare workers
// dead all the time (and when it does, jobs must survive that too).
const (
	heartbeat        = 250 * time.Millisecond
	heartbeatTimeout = 2 * time.Second
	driverPort       = "7077"
	apiPort          = "8081"
	brokerPort       = "9092"
	secret           = "faults-secret"
)

// buildFlint builds the real binary once per test process.
var buildFlint = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "flint-faults-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "flint")
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the fault test builds cmd/flint with the go command, which is not on the PATH: %w", err)
	}
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/flintml/flint/cmd/flint")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/flint: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a process of the simulated cluster, its output kept in a file.
type proc struct {
	name string
	cmd  *exec.Cmd
	logf string
	done chan struct{}
	err  error
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process has not exited.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(s syscall.Signal) { p.cmd.Process.Signal(s) }

// kill SIGKILLs the process and waits for it to exit.
func (p *proc) kill() {
	if p.alive() {
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.cmd.Process.Kill()
	}
	<-p.done
}

// tail returns the end of the process's output.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.logf)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// rss is the process's anonymous resident memory in bytes (RssAnon in
// /proc: its heap, stacks and other private pages). The file-backed part of
// VmRSS is left out: it grows as a worker first runs each algorithm's code
// (pages of the binary mapped in) and is shared and reclaimable, not memory
// the worker holds on to.
func (p *proc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no RssAnon in /proc/%d/status", p.pid())
}

// hosts is the simulated cluster: the machines and what runs on them.
type hosts struct {
	t       *testing.T
	flint   string
	dir     string
	net     *netns.Net
	drv     *netns.Host
	brk     *netns.Host
	wh      []*netns.Host
	driver  *proc
	workers []*proc
	broker  *proc
	client  *http.Client
	started int     // processes started, for log file names
	all     []*proc // every process started, replaced ones too
	mu      sync.Mutex
}

// newHosts builds the namespaces and starts the broker (seeded with the
// jobs' records), the driver and three workers.
func newHosts(t *testing.T) *hosts {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skip(err)
	}
	bin, err := buildFlint()
	if err != nil {
		t.Fatal(err)
	}
	n, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if keep := os.Getenv("FLINT_FAULTS_KEEP"); keep != "" {
		// The processes' logs and the store stay there for a post-mortem.
		if dir, err = os.MkdirTemp(keep, "faults-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("logs and store in %s", dir)
	}
	h := &hosts{t: t, flint: bin, dir: dir, net: n}
	t.Cleanup(h.close)
	add := func(name string) *netns.Host {
		x, err := n.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	h.drv, h.brk = add("drv"), add("brk")
	for i := range 3 {
		h.wh = append(h.wh, add(fmt.Sprintf("w%d", i+1)))
	}
	// The test talks to the job API from inside the driver's host, so it
	// reaches the API even while the driver's cable is out.
	h.client = &http.Client{Transport: &http.Transport{DialContext: h.drv.DialContext, DisableKeepAlives: true}}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h.broker = h.start("broker", h.brk, exe, []string{envBroker + "=" + h.brokerAddr()}, "-test.run=^$")
	if err := h.waitLine(h.broker, "broker ready", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	h.startDriver()
	for i := range h.wh {
		h.workers = append(h.workers, h.startWorker(i))
	}
	h.waitWorkers(3, 2*time.Minute)
	return h
}

func (h *hosts) brokerAddr() string { return h.brk.IP + ":" + brokerPort }
func (h *hosts) api() string        { return "http://" + h.drv.IP + ":" + apiPort }
func (h *hosts) store() string      { return filepath.Join(h.dir, "store") }
func (h *hosts) logSpec() string    { return "kafka:" + h.brokerAddr() }

// start runs a program on host x with its output in a log file.
func (h *hosts) start(name string, x *netns.Host, prog string, env []string, args ...string) *proc {
	h.t.Helper()
	h.mu.Lock()
	h.started++
	logf := filepath.Join(h.dir, fmt.Sprintf("%02d-%s.log", h.started, name))
	h.mu.Unlock()
	f, err := os.Create(logf)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := x.Command(prog, args...)
	cmd.Env = append(append(os.Environ(), "FLINT_CLUSTER_SECRET="+secret), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Stdin is a pipe the test holds open: a broker child whose test
	// process died sees it close and exits.
	if _, err := cmd.StdinPipe(); err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, logf: logf, done: make(chan struct{})}
	h.mu.Lock()
	h.all = append(h.all, p)
	h.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

func (h *hosts) startDriver() {
	h.driver = h.start("driver", h.drv, h.flint, nil, "--log", h.logSpec(), "--store", "dir:"+h.store(),
		"driver", "--listen", h.drv.IP+":"+driverPort, "--http", h.drv.IP+":"+apiPort,
		"--heartbeat", heartbeat.String(), "--heartbeat-timeout", heartbeatTimeout.String(),
		"--checkpoint-every", "5")
}

func (h *hosts) startWorker(i int) *proc {
	return h.start(fmt.Sprintf("worker%d", i+1), h.wh[i], h.flint, nil, "worker",
		"--driver", h.drv.IP+":"+driverPort, "--listen", h.wh[i].IP+":7078", "--name", fmt.Sprintf("w%d", i+1))
}

// waitLine waits until p's output has a line containing s.
func (h *hosts) waitLine(p *proc, s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(p.logf)
		if bytes.Contains(b, []byte(s)) {
			return nil
		}
		if !p.alive() {
			return fmt.Errorf("%s exited (%v) before printing %q:\n%s", p.name, p.err, s, p.tail(4000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not print %q within %v:\n%s", p.name, s, timeout, p.tail(4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close stops every process and removes the namespaces. After a failure
// it logs the end of every process's output, replaced processes included.
func (h *hosts) close() {
	h.mu.Lock()
	ps := append([]*proc(nil), h.all...)
	h.mu.Unlock()
	for _, p := range ps {
		p.kill()
	}
	if h.t.Failed() {
		for _, p := range ps {
			h.t.Logf("--- %s (pid %d) output, last lines:\n%s", p.name, p.pid(), p.tail(3000))
		}
	}
	if err := h.net.Close(); err != nil {
		h.t.Error(err)
	}
}

// get decodes the JSON answer of a GET on the job API into v.
func (h *hosts) get(path string, v any) error {
	req, _ := http.NewRequest(http.MethodGet, h.api()+path, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := h.client.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// submit posts a spec and returns the job's id; it retries while the
// driver is restarting.
func (h *hosts) submit(spec string) string {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequest(http.MethodPost, h.api()+"/v1/jobs", strings.NewReader(spec))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := h.client.Do(req)
		if err == nil {
			var j jobs.Job
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated && json.Unmarshal(b, &j) == nil {
				return j.ID
			}
			h.t.Fatalf("submit: %s: %s", resp.Status, b)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("submit: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// job returns a job's record; errors (the driver restarting) are retried
// for a while.
func (h *hosts) job(id string) (jobs.Job, error) {
	var j jobs.Job
	var err error
	for range 50 {
		if err = h.get("/v1/jobs/"+id, &j); err == nil {
			return j, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return j, err
}

// members returns the driver's workers.
func (h *hosts) members() ([]jobs.Worker, error) {
	var wl jobs.WorkerList
	err := h.get("/v1/workers", &wl)
	return wl.Workers, err
}

// waitWorkers waits until n workers are alive.
func (h *hosts) waitWorkers(n int, timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ws, err := h.members()
		live := 0
		for _, w := range ws {
			if w.Alive {
				live++
			}
		}
		if err == nil && live >= n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d workers alive after %v, want %d (%v): %+v", live, timeout, n, err, ws)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
