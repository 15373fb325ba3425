package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flintml/flint/internal/syncbuf"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer"
	"github.com/flintml/flint/trainer/jobs"
)

// clicksJob writes a CSV of a small classification problem and a job spec
// training logistic regression on it as model name; it returns the spec's
// path.
func clicksJob(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString("x1,x2,y\n")
	for range 1000 {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		y := 0
		if 2*x1-x2+0.5*r.NormFloat64() > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%g,%g,%d\n", x1, x2, y)
	}
	csv := filepath.Join(dir, "clicks.csv")
	spec := fmt.Sprintf(`name: %s
source: {files: [%q], header: true}
schema:
  format: csv
  fields: [{name: x1, type: numeric}, {name: x2, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  logistic_regression: {max_iter: 100, tol: 1e-12}
`, name, csv)
	path := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// clicksTopicJob writes a job that reads the topic "clicks", and returns
// its path and 1000 CSV lines for the topic.
func clicksTopicJob(t *testing.T, name string) (path, lines string) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	var b strings.Builder
	for range 1000 {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		y := 0
		if x1+x2 > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%.4f,%.4f,%d\n", x1, x2, y)
	}
	spec := fmt.Sprintf(`name: %s
source: {topic: clicks}
schema:
  format: csv
  fields: [{name: x1, type: numeric}, {name: x2, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  logistic_regression: {max_iter: 50}
`, name)
	path = filepath.Join(t.TempDir(), "topic-job.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b.String()
}

// jobAPI is a job API with an in-process engine on a store in a temporary
// directory.
func jobAPI(t *testing.T, cfg jobs.ManagerConfig, token string) (url string, m *jobs.Manager, st models.Store) {
	t.Helper()
	st, err := local.New(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Store, cfg.Logger = st, quiet
	m, err = jobs.NewManager(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(jobs.NewAPI(jobs.APIConfig{Manager: m, Token: token, Logger: quiet}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { m.Close() })
	return srv.URL, m, st
}

func TestTrainOnDriver(t *testing.T) {
	t.Setenv(envClusterSecret, "tok")
	url, m, st := jobAPI(t, jobs.ManagerConfig{}, "tok")
	job := clicksJob(t, "clicks")
	out, errOut, err := run(t, "", "train", "--driver", url, "-f", job)
	if err != nil {
		t.Fatalf("train --driver: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "published clicks version 1 (logistic_regression)") || !strings.Contains(out, "accuracy") {
		t.Fatalf("summary:\n%s", out)
	}
	if !strings.Contains(errOut, "submitted job ") || !strings.Contains(errOut, "msg=iteration") {
		t.Fatalf("no submission or progress on stderr:\n%s", errOut)
	}
	if _, vi, err := models.NewRegistry(st).Latest(context.Background(), "clicks"); err != nil || vi.Version != 1 {
		t.Fatalf("model: %v", err)
	}
	if jobs := m.List(jobs.Succeeded); len(jobs) != 1 || jobs[0].File != job {
		t.Fatalf("jobs: %+v", jobs)
	}

	// Every problem of a bad spec, named by the driver.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nsource: {files: [a.csv]}\nschema: {fields: [{name: a, type: numeric}]}\nalgorithm:\n  foo: {}\n"), 0o644)
	_, _, err = run(t, "", "train", "--driver", url, "-f", bad)
	if err == nil || !strings.Contains(err.Error(), "problem(s) in the job spec:\n  "+bad+":5:3: algorithm.foo") {
		t.Fatalf("bad spec: %v", err)
	}
	// A job that fails on the driver fails train.
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	spec, _ := os.ReadFile(job)
	os.WriteFile(missing, bytes.Replace(spec, []byte("clicks.csv"), []byte("nothing.csv"), 1), 0o644)
	_, _, err = run(t, "", "train", "--driver", url, "-f", missing)
	if err == nil || !strings.Contains(err.Error(), "failed on the driver") || !strings.Contains(err.Error(), "nothing.csv") {
		t.Fatalf("failing job: %v", err)
	}
	// The wrong token.
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("wrong\n"), 0o600)
	_, _, err = run(t, "", "train", "--driver", url, "--secret-file", secret, "-f", job)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "bearer token is not valid") {
		t.Fatalf("wrong token: %v", err)
	}
}

// Ctrl-C while following a job cancels it on the driver.
func TestTrainOnDriverCancel(t *testing.T) {
	reached := make(chan struct{})
	var m *jobs.Manager
	var once sync.Once
	url, m, st := jobAPI(t, jobs.ManagerConfig{Observe: func(id string) trainer.Observer {
		return iterHook(func(p ml.Progress) {
			if p.Iter != 2 {
				return
			}
			once.Do(func() {
				close(reached)
				for { // hold the fit until the cancel request has arrived
					j, changed, err := m.Watch(id)
					if err != nil || j.CancelRequested {
						return
					}
					<-changed
				}
			})
		})
	}}, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-reached; cancel() }()
	var out, errOut bytes.Buffer
	root := newRootCmd(strings.NewReader(""), &out, &errOut)
	root.SetArgs([]string{"train", "--driver", url, "-f", clicksJob(t, "stopped")})
	err := root.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "canceled on the driver, nothing was published") {
		t.Fatalf("train interrupted: %v\n%s", err, errOut.String())
	}
	if jobs := m.List(jobs.Canceled); len(jobs) != 1 {
		t.Fatalf("jobs: %+v", m.List(""))
	}
	if _, err := models.NewRegistry(st).Describe(context.Background(), "stopped"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a canceled job published: %v", err)
	}
}

type iterHook func(p ml.Progress)

func (iterHook) Phase(string)                            {}
func (h iterHook) Iteration(_ int, p ml.Progress, _ int) { h(p) }

// child is a flint process running main() (see TestMain).
type child struct {
	cmd    *exec.Cmd
	lines  chan string // stdout, line by line
	stderr syncbuf.Buffer
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], args...), lines: make(chan string, 100)}
	c.cmd.Env = append(os.Environ(), "FLINT_TEST_MAIN=1")
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// value waits for the stdout line starting with prefix and returns the rest.
func (c *child) value(t *testing.T, prefix string) string {
	t.Helper()
	for line := range c.lines {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	t.Fatalf("%v exited without printing %q:\n%s", c.cmd.Args[1:], prefix, c.stderr.String())
	return ""
}

// stop sends SIGTERM and waits for a clean exit.
func (c *child) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	for range c.lines { // drain, so the copier ends
	}
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("%v after SIGTERM: %v\n%s", c.cmd.Args[1:], err, c.stderr.String())
	}
}

// flint driver with two flint worker processes, and a job submitted with
// flint train --driver: the model lands in the driver's store.
func TestDriverEndToEnd(t *testing.T) {
	t.Setenv(envClusterSecret, "e2e-secret")
	// Children built with -race otherwise sleep a second before they exit.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	dir := t.TempDir()
	store := filepath.Join(dir, "models")
	logDir := filepath.Join(dir, "log")
	topicJob, csv := clicksTopicJob(t, "e2e-topic")
	ingest := func(input string) {
		t.Helper()
		if _, stderr, code := flintProc(t, input, "--log", "dir:"+logDir, "ingest", "--topic", "clicks", "--schema", topicJob); code != 0 {
			t.Fatalf("ingest: exit %d: %s", code, stderr)
		}
	}
	half := len(csv)/2 + strings.IndexByte(csv[len(csv)/2:], '\n') + 1
	ingest(csv[:half])
	d := startChild(t, "--store", "dir:"+store, "--log", "dir:"+logDir,
		"driver", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--heartbeat-timeout", "1m")
	addr := d.value(t, "driver listening for workers on ")
	api := d.value(t, "job API on ")
	var workers []*child
	for range 2 {
		workers = append(workers, startChild(t, "worker", "--driver", addr))
	}

	stdout, stderr, code := flintProc(t, "", "train", "--driver", api, "-f", clicksJob(t, "e2e"))
	if code != 0 || !strings.Contains(stdout, "published e2e version 1 (logistic_regression)") {
		t.Fatalf("train --driver: exit %d\n%s\n%s\ndriver:\n%s", code, stdout, stderr, d.stderr.String())
	}
	// The driver and its workers read the embedded log read-only: flint
	// ingest goes on appending to it, and a job reads it on the workers.
	ingest(csv[half:])
	stdout, stderr, code = flintProc(t, "", "train", "--driver", api, "-f", topicJob)
	if code != 0 || !strings.Contains(stdout, "published e2e-topic version 1") || !strings.Contains(stdout, "rows: 1000 ") {
		t.Fatalf("train --driver on a topic: exit %d\n%s\n%s\ndriver:\n%s", code, stdout, stderr, d.stderr.String())
	}
	st, err := local.New(store)
	if err != nil {
		t.Fatal(err)
	}
	art, vi, err := models.NewRegistry(st).Latest(context.Background(), "e2e")
	if err != nil || vi.Version != 1 || art.Algorithm != "logistic" {
		t.Fatalf("the driver's store: %v", err)
	}

	req, _ := http.NewRequest(http.MethodGet, api+"/v1/workers", nil)
	req.Header.Set("Authorization", "Bearer e2e-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var wl jobs.WorkerList
	json.NewDecoder(resp.Body).Decode(&wl)
	resp.Body.Close()
	if len(wl.Workers) != 2 || !wl.Workers[0].Alive || !wl.Workers[1].Alive {
		t.Fatalf("GET /v1/workers: %+v", wl)
	}
	for _, w := range wl.Workers { // the job ran on both: each loaded partitions and ran tasks
		if w.TasksCompleted == 0 || w.TasksRunning != 0 || len(w.Events) == 0 || w.Events[len(w.Events)-1].Kind != "joined" {
			t.Errorf("GET /v1/workers: %s has %d tasks completed, %d running, events %+v", w.ID, w.TasksCompleted, w.TasksRunning, w.Events)
		}
	}
	req, _ = http.NewRequest(http.MethodGet, api+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer e2e-secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`flint_trainer_jobs{state="succeeded"} 2`, "flint_trainer_iterations_total ", "go_goroutines ", "process_resident_memory_bytes ",
		`flint_cluster_workers{state="live"} 2`, "flint_cluster_worker_cached_bytes{", `flint_cluster_tasks_total{`} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(metrics), want) {
			t.Fatalf("GET /metrics: %d, no %q in:\n%s", resp.StatusCode, want, metrics)
		}
	}

	d.stop(t)
	for _, w := range workers {
		w.stop(t)
	}
	if es, _ := st.List(context.Background(), "jobs/"); len(es) != 2 || !strings.HasSuffix(es[0].Key, ".json") || !strings.HasSuffix(es[1].Key, ".json") {
		t.Fatalf("store after the jobs: %+v (want their records, and no checkpoint left)", es)
	}
}

// flint train --listen is the driver of its own job: it waits for its
// workers, which read the topic from the embedded log beside it, and the
// model is the one a run on the in-process engine publishes.
func TestTrainListen(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	job, csv := clicksTopicJob(t, "listen")
	if _, stderr, code := flintProc(t, csv, "--log", "dir:"+logDir, "ingest", "--topic", "clicks", "--schema", job); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, stderr)
	}
	remoteStore, localStore := filepath.Join(dir, "remote"), filepath.Join(dir, "local")
	tr := startChild(t, "--log", "dir:"+logDir, "--store", "dir:"+remoteStore, "train", "-f", job,
		"--listen", "127.0.0.1:0", "--workers", "2", "--wait", "1m")
	addr, _, _ := strings.Cut(tr.value(t, "driver listening for workers on "), " ")
	for range 2 {
		w := startChild(t, "worker", "--driver", addr)
		defer w.stop(t)
	}
	for line := range tr.lines {
		if strings.HasPrefix(line, "published listen version 1") {
			break
		}
	}
	if err := tr.cmd.Wait(); err != nil {
		t.Fatalf("train --listen: %v\n%s", err, tr.stderr.String())
	}
	if _, stderr, code := flintProc(t, "", "--log", "dir:"+logDir, "--store", "dir:"+localStore, "train", "-f", job); code != 0 {
		t.Fatalf("train in process: exit %d: %s", code, stderr)
	}
	sameLatestModel(t, "listen", remoteStore, localStore, "the model trained on the workers differs from the in-process one")
}

// flint up --http serves the job API on its driver and local workers.
func TestUpServesJobs(t *testing.T) {
	pr, pw := io.Pipe()
	var out, errOut syncbuf.Buffer
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
			lines <- sc.Text()
		}
		close(lines)
	}()
	s := streams{in: strings.NewReader(""), out: pw, err: &errOut}
	root := newRootCmd(s.in, s.out, s.err)
	for _, c := range root.Commands() {
		if c.Name() == "up" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newUpCmdWith(s, testWorker))
	dir := t.TempDir()
	store := filepath.Join(dir, "models")
	root.SetArgs([]string{"--store", "dir:" + store, "--log", "dir:" + filepath.Join(dir, "log"), "up", "--workers", "2", "--heartbeat-timeout", "1m", "--http", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		pw.Close()
		served <- err
	}()

	var api string
	for line := range lines {
		if v, ok := strings.CutPrefix(line, "job API on "); ok {
			api = v
			break
		}
	}
	if api == "" {
		t.Fatalf("up ended without serving the job API: %v\n%s\n%s", <-served, out.String(), errOut.String())
	}
	got, stderr, err := run(t, "", "train", "--driver", api, "-f", clicksJob(t, "up"))
	if err != nil || !strings.Contains(got, "published up version 1") {
		t.Fatalf("train on up: %v\n%s\n%s\nup:\n%s", err, got, stderr, errOut.String())
	}
	// The web console sits beside the job API (open, as the API is here).
	for path, want := range map[string]string{"/console/jobs": ">up v1<", "/console/models/up": `data-version="1"`,
		"/console/workers": `<b id="alive">2</b>`} {
		resp, err := http.Get(api + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, want 200 and %q in:\n%s", path, resp.Status, want, body)
		}
	}
	cancel()
	for range lines { // the rest of up's output
	}
	if err := <-served; err != nil {
		t.Fatalf("up after Ctrl-C: %v", err)
	}
	if !strings.Contains(out.String(), "with 2 workers") || !strings.Contains(out.String(), "stopping") {
		t.Fatalf("up's output:\n%s", out.String())
	}
}

func TestDriverAndTrainFlags(t *testing.T) {
	job := clicksJob(t, "x")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"driver", "--max-concurrent", "0"}, "--max-concurrent must be at least 1, got 0"},
		{[]string{"driver", "--checkpoint-every", "-1", "--min-workers", "0"}, "--checkpoint-every must be >= 0, got -1\n--min-workers must be at least 1, got 0"},
		{[]string{"driver", "--worker-wait", "-1s", "--job-retries", "-1", "--retry-for", "0s"},
			"--worker-wait must be >= 0, got -1s\n--job-retries must be >= 0, got -1\n--retry-for must be positive, got 0s"},
		{[]string{"up", "--job-retries", "-2"}, "--job-retries must be >= 0, got -2"},
		{[]string{"driver", "--tls-cert", "c.pem"}, "go together"},
		{[]string{"driver", "--secret-file", "/no/such/secret"}, "--secret-file"},
		{[]string{"--store", "nowhere", "driver", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"}, `--store "nowhere": unknown store`},
		{[]string{"up", "--http", "127.0.0.1:0", "--file", "a.csv"}, "without --file or --topic"},
		{[]string{"train", "--driver", "ftp://host:1", "-f", job}, `--driver: jobs: URL "ftp://host:1": want http://HOST:PORT`},
		{[]string{"train", "--driver", "http://127.0.0.1:1/jobs", "-f", job}, "want http://HOST:PORT"},
		{[]string{"train", "--driver", "https://127.0.0.1:1", "--tls-ca", "/no/such/ca.pem", "-f", job}, "--tls-ca"},
	} {
		_, _, err := run(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("flint %s: %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// --worker-wait 0 and --job-retries 0 mean "not at all", which the driver
// and the manager spell as negative; other values pass as they are.
func TestJobsOptionsMapping(t *testing.T) {
	off := jobsOptions{workerWait: 0, jobRetries: 0}
	on := jobsOptions{workerWait: 90 * time.Second, jobRetries: 5}
	if off.remoteWorkerWait() >= 0 || off.managerRetries() >= 0 || on.remoteWorkerWait() != 90*time.Second || on.managerRetries() != 5 {
		t.Fatalf("0 maps to %v and %d, 90s and 5 to %v and %d", off.remoteWorkerWait(), off.managerRetries(), on.remoteWorkerWait(), on.managerRetries())
	}
}

// A driver killed with SIGKILL in the middle of a job: a new driver started
// on the same store (and address, which the workers register at again)
// resumes the job from its newest checkpoint, on the pinned records, and
// publishes the model an uninterrupted run publishes.
func TestDriverSIGKILLResumes(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	dir := t.TempDir()
	logDir, store := filepath.Join(dir, "log"), filepath.Join(dir, "models")
	job, csv := clicksTopicJob(t, "resumed")
	spec, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	// SGD is resumed bit for bit; enough iterations to kill the driver mid-fit.
	spec = []byte(strings.Replace(string(spec), "logistic_regression: {max_iter: 50}",
		"logistic_regression: {solver: sgd, max_iter: 3000, step_size: 0.5, mini_batch_fraction: 0.5, tol: 1e-15}\nengine: {checkpoint_every: 25}", 1))
	if err := os.WriteFile(job, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := flintProc(t, csv, "--log", "dir:"+logDir, "ingest", "--topic", "clicks", "--schema", job); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	driver := func() (*child, string) {
		d := startChild(t, "--store", "dir:"+store, "--log", "dir:"+logDir,
			"driver", "--listen", addr, "--http", "127.0.0.1:0", "--heartbeat", "100ms", "--heartbeat-timeout", "5s")
		d.value(t, "driver listening for workers on ")
		return d, d.value(t, "job API on ")
	}
	d, api := driver()
	for range 2 {
		w := startChild(t, "worker", "--driver", addr)
		defer w.stop(t)
	}
	resp, err := http.Post(api+"/v1/jobs", "application/yaml", bytes.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	var j jobs.Job
	json.NewDecoder(resp.Body).Decode(&j)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit: HTTP %d", resp.StatusCode)
	}
	get := func(api string) jobs.Job {
		t.Helper()
		resp, err := http.Get(api + "/v1/jobs/" + j.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got jobs.Job
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got := get(api)
		if got.State.Final() {
			t.Fatalf("the job ended (%s: %s) before the driver was killed; make it longer\n%s", got.State, got.Error, d.stderr.String())
		}
		if got.Progress != nil && got.Progress.Iter >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v\n%s", got, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.cmd.Process.Kill()
	d.cmd.Wait()

	d, api = driver()
	defer d.stop(t)
	var got jobs.Job
	for {
		if got = get(api); got.State.Final() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resumed job did not finish: %+v\n%s", got, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.State != jobs.Succeeded || got.Attempts != 2 {
		t.Fatalf("after the restart: %s after %d attempts (%s)\n%s", got.State, got.Attempts, got.Error, d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), "resuming from checkpoint") {
		t.Fatalf("the new driver did not resume from a checkpoint:\n%s", d.stderr.String())
	}

	// The same job, uninterrupted and in process.
	inProc := filepath.Join(dir, "local")
	if _, stderr, code := flintProc(t, "", "--log", "dir:"+logDir, "--store", "dir:"+inProc, "train", "-f", job); code != 0 {
		t.Fatalf("train in process: exit %d: %s", code, stderr)
	}
	sameLatestModel(t, "resumed", store, inProc, "the resumed job's model differs from an uninterrupted run's")
}

// flint train --checkpoint-every: a local run killed with SIGKILL mid-fit
// and run again resumes from its checkpoint and publishes the model an
// uninterrupted run publishes.
func TestTrainCheckpointResume(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	dir := t.TempDir()
	logDir, store := filepath.Join(dir, "log"), filepath.Join(dir, "models")
	job, csv := clicksTopicJob(t, "ckpt")
	spec, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	spec = []byte(strings.Replace(string(spec), "logistic_regression: {max_iter: 50}",
		"logistic_regression: {solver: sgd, max_iter: 4000, step_size: 0.5, mini_batch_fraction: 0.5, tol: 1e-15}", 1))
	if err := os.WriteFile(job, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := flintProc(t, csv, "--log", "dir:"+logDir, "ingest", "--topic", "clicks", "--schema", job); code != 0 {
		t.Fatalf("ingest: exit %d: %s", code, stderr)
	}
	args := []string{"--log", "dir:" + logDir, "--store", "dir:" + store, "train", "-f", job, "--checkpoint-every", "20"}
	tr := startChild(t, args...)
	st, err := local.New(store)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if es, _ := st.List(context.Background(), "checkpoints/ckpt/state"); len(es) > 0 {
			break
		}
		if tr.cmd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("no checkpoint appeared:\n%s", tr.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr.cmd.Process.Kill()
	tr.cmd.Wait()
	if _, vi, err := models.NewRegistry(st).Latest(context.Background(), "ckpt"); err == nil {
		t.Fatalf("the killed run published version %d; kill it earlier", vi.Version)
	}

	stdout, stderr, code := flintProc(t, "", args...)
	if code != 0 || !strings.Contains(stdout, "published ckpt version 1") {
		t.Fatalf("the second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "resuming from checkpoint") {
		t.Fatalf("the second run did not resume:\n%s", stderr)
	}
	if es, _ := st.List(context.Background(), "checkpoints/"); len(es) != 0 {
		t.Fatalf("checkpoints left after publishing: %+v", es)
	}
	other := filepath.Join(dir, "uninterrupted")
	if _, stderr, code := flintProc(t, "", "--log", "dir:"+logDir, "--store", "dir:"+other, "train", "-f", job); code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", code, stderr)
	}
	sameLatestModel(t, "ckpt", store, other, "the resumed run's model differs from an uninterrupted run's")
}

// sameLatestModel fails with why unless the latest versions of model name
// in two local stores hold the same parameters, byte for byte.
func sameLatestModel(t *testing.T, name, storeA, storeB, why string) {
	t.Helper()
	var params [][]byte
	for _, dir := range []string{storeA, storeB} {
		st, err := local.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		art, _, err := models.NewRegistry(st).Latest(context.Background(), name)
		if err != nil {
			t.Fatalf("%s in %s: %v", name, dir, err)
		}
		params = append(params, art.Params)
	}
	if !bytes.Equal(params[0], params[1]) {
		t.Fatal(why)
	}
}
