package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/flintml/flint/internal/jobdata"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer/jobs"
)

// envBroker, set to host:port, makes the test binary a Kafka-protocol
// broker (kfake) on that address, seeded with the jobs' records: how the
// broker runs on a simulated host of its own.
const envBroker = "FLINT_FAULTS_BROKER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(envBroker); addr != "" {
		if err := runBroker(addr); err != nil {
			fmt.Fprintln(os.Stderr, "broker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runBroker serves a broker on addr until standard input closes (the test
// process holds the other end) or SIGTERM.
func runBroker(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	p, _ := strconv.Atoi(port)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(p), kfake.DefaultNumPartitions(3),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := kafka.New(ctx, kafka.Config{Brokers: []string{addr}})
	if err != nil {
		return err
	}
	topics := jobdata.Generate(11, jobdata.Sizes{Clicks: 30000, Blobs: 30000, Ratings: 40000, Users: 2000, Items: 800})
	if err := jobdata.Append(ctx, l, topics, 3); err != nil {
		return err
	}
	l.Close()
	fmt.Println("broker ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// clicksJob is a classification job on the clicks topic with the given
// name and algorithm.
func clicksJob(name, algorithm, evaluation string) string {
	return `
name: ` + name + `
source: {topic: clicks}
schema:
  format: csv
  label: y
  fields:
    - {name: y, type: numeric}
    - {name: a, type: numeric}
    - {name: b, type: numeric}
    - {name: c, type: numeric}
    - {name: colour, type: categorical}
transforms:
  - {type: standard_scaler, inputs: [a, b, c]}
  - {type: one_hot, inputs: [colour]}
algorithm:
  ` + algorithm + `
evaluation: ` + evaluation + `
`
}

// The jobs: one of each kind of algorithm the trainer runs iteratively,
// sized so that their training lasts long enough for a fault to land in
// it.
var specs = []struct{ name, text string }{
	{"clicks-lr", clicksJob("clicks-lr", "logistic_regression: {reg_param: 0.01, solver: gd, max_iter: 120, tol: 1e-300}",
		"{test_fraction: 0.2, seed: 7, metrics: [auc, accuracy]}")},
	{"blobs-km", `
name: blobs-km
source: {topic: blobs}
schema:
  format: csv
  fields:
    - {name: a, type: numeric}
    - {name: b, type: numeric}
    - {name: c, type: numeric}
algorithm:
  kmeans: {k: 6, seed: 3, max_iter: 40, tol: 1e-300, runs: 3}
`},
	{"ratings-als", `
name: ratings-als
source: {topic: ratings}
schema:
  format: csv
  fields:
    - {name: user, type: categorical}
    - {name: item, type: categorical}
    - {name: rating, type: numeric}
algorithm:
  als: {user: user, item: item, rating: rating, rank: 6, reg_param: 0.05, max_iter: 12, seed: 2, biases: true}
evaluation: {test_fraction: 0.1, seed: 5}
`},
	{"clicks-mlp", clicksJob("clicks-mlp", "mlp: {hidden_layers: [8], batch_size: 128, max_iter: 150, tol: 0, seed: 4}",
		"{test_fraction: 0.2, seed: 7}")},
}

// A fault the schedule injects while a job runs.
type fault int

const (
	noFault fault = iota
	workerKill
	workerStop
	workerLink
	driverLink
	brokerLink
	driverKill
	nFaults
)

func (f fault) String() string {
	return [...]string{"none", "worker SIGKILL", "worker SIGSTOP", "worker link down", "driver link down",
		"broker link down during the load", "driver SIGKILL and restart"}[f]
}

// schedule is the seeded fault of each job: the first job runs without
// one (it sets the workers' memory baseline), then every kind of fault in
// a shuffled order, over and over.
func schedule(seed uint64, jobs int) []fault {
	r := rand.New(rand.NewPCG(seed, 99))
	out := []fault{noFault}
	for len(out) < jobs {
		round := make([]fault, 0, nFaults-1)
		for f := workerKill; f < nFaults; f++ {
			round = append(round, f)
		}
		r.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		out = append(out, round...)
	}
	return out[:jobs]
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// A long-lived driver runs job after job on three workers and a broker,
// each on a simulated host of its own, while a seeded schedule kills,
// stops and cuts them off. Every job succeeds and publishes exactly the
// model a fault-free in-process run publishes; no job hangs; the workers'
// cached bytes and resident memory return to their pre-job level.
func TestLongLivedDriverUnderFaults(t *testing.T) {
	n := 20
	if os.Getenv("FLINT_LONG") != "" {
		n = 100
	}
	n = envInt("FLINT_FAULTS_JOBS", n)
	seed := uint64(envInt("FLINT_FAULTS_SEED", 1))
	h := newHosts(t)
	want := h.baselines()
	sched := schedule(seed, n)
	t.Logf("seed %d, %d jobs: %v", seed, n, sched)

	mem := newMemCheck(h)
	st, err := local.New(h.store())
	if err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(st)
	landed := map[fault]int{}
	for i, f := range sched {
		sp := specs[i%len(specs)]
		start := time.Now()
		id := h.submit(sp.text)
		inj := h.inject(id, f, i)
		j := h.waitJob(id, 5*time.Minute)
		if hit := <-inj; hit {
			landed[f]++
		}
		if j.State != jobs.Succeeded {
			t.Fatalf("job %d (%s, fault: %s) ended %s: %s", i, sp.name, f, j.State, j.Error)
		}
		art, _, err := reg.Get(context.Background(), j.Result.Model, j.Result.Version)
		if err != nil {
			t.Fatal(err)
		}
		w := want[sp.name]
		if !bytes.Equal(art.Params, w.Params) || !bytes.Equal(art.Pipeline, w.Pipeline) {
			t.Fatalf("job %d (%s, fault: %s): version %d differs from the fault-free model", i, sp.name, f, j.Result.Version)
		}
		h.restoreWorkers()
		held := mem.check(i)
		t.Logf("job %2d %-12s %-36s %5.1fs attempts %d, workers' %s", i, sp.name, f, time.Since(start).Seconds(), j.Attempts, held)
	}
	t.Logf("faults that landed while their job ran: %v", landed)
}

// baselines runs each spec once in process, on the driver's host, and
// returns the artefacts: what every job must publish, whatever happens.
func (h *hosts) baselines() map[string]*models.Artifact {
	h.t.Helper()
	dir := filepath.Join(h.dir, "baseline")
	out := map[string]*models.Artifact{}
	st, err := local.New(dir)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, sp := range specs {
		file := filepath.Join(h.dir, sp.name+".yaml")
		if err := os.WriteFile(file, []byte(sp.text), 0o644); err != nil {
			h.t.Fatal(err)
		}
		cmd := h.drv.Command(h.flint, "--log", h.logSpec(), "--store", "dir:"+dir, "train", "-f", file)
		if b, err := cmd.CombinedOutput(); err != nil {
			h.t.Fatalf("in-process baseline of %s: %v\n%s", sp.name, err, b)
		}
		art, _, err := models.NewRegistry(st).Latest(context.Background(), sp.name)
		if err != nil {
			h.t.Fatal(err)
		}
		out[sp.name] = art
	}
	return out
}

// waitJob waits for a job to end, at most timeout: a job that takes longer
// hangs.
func (h *hosts) waitJob(id string, timeout time.Duration) jobs.Job {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j, err := h.job(id)
		if err == nil && j.State.Final() {
			return j
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("job %s did not end within %v (hangs): last seen %+v, err %v", id, timeout, j, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// inject waits for job id to reach the point f is aimed at — training
// under way, or the initial load for a broker outage — then injects f and
// heals it. The channel says whether f landed while the job ran; it is
// sent once the fault is healed.
func (h *hosts) inject(id string, f fault, i int) <-chan bool {
	ch := make(chan bool, 1)
	if f == noFault {
		ch <- false
		return ch
	}
	victim := i % len(h.workers)
	go func() {
		hit := h.waitPoint(id, f)
		switch f {
		case workerKill:
			h.workers[victim].kill()
		case workerStop:
			h.workers[victim].signal(syscall.SIGSTOP)
			time.Sleep(heartbeatTimeout + 1500*time.Millisecond)
			h.workers[victim].signal(syscall.SIGCONT)
		case workerLink:
			h.link(h.wh[victim], heartbeatTimeout+1500*time.Millisecond)
		case driverLink:
			// Longer than the heartbeat timeout plus 5 s, which failed
			// the job for good before.
			h.link(h.drv, heartbeatTimeout+6*time.Second)
		case brokerLink:
			h.link(h.brk, 6*time.Second)
		case driverKill:
			h.driver.kill()
			h.startDriver()
		}
		ch <- hit
	}()
	return ch
}

// The durations above are how long a fault lasts, not waits for something
// to have happened: the test waits on conditions everywhere else.

// link pulls x's cable for d, then plugs it back in.
func (h *hosts) link(x interface{ SetLink(bool) error }, d time.Duration) {
	if err := x.SetLink(false); err != nil {
		h.t.Error(err)
		return
	}
	time.Sleep(d)
	if err := x.SetLink(true); err != nil {
		h.t.Error(err)
	}
}

// waitPoint polls the job until it reaches f's point and reports whether
// it did so before ending.
func (h *hosts) waitPoint(id string, f fault) bool {
	for {
		j, err := h.job(id)
		if err != nil {
			return false
		}
		if j.State.Final() {
			return false
		}
		if j.State == jobs.Running {
			loading := j.Phase == "planning the source" || j.Phase == "fitting feature transforms" || j.Phase == "caching feature rows" || j.Phase == "waiting for the cluster"
			if f == brokerLink && (loading || j.Progress == nil) {
				return true
			}
			if f != brokerLink && (j.Progress != nil || strings.HasPrefix(j.Phase, "training")) {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restoreWorkers starts again the workers a fault killed, and waits until
// all three are alive.
func (h *hosts) restoreWorkers() {
	for i, w := range h.workers {
		if !w.alive() {
			h.workers[i] = h.startWorker(i)
		}
	}
	h.waitWorkers(3, 2*time.Minute)
}

// memCheck checks that the workers' memory returns to its pre-job level:
// after every job no live worker holds cached bytes, and a worker's memory
// does not creep up from job to job.
//
// Memory is measured after each job as the worker's anonymous resident set
// (RssAnon) and its live heap as of its last collection (as the worker
// reports it in heartbeats). Both move from one job to the next without
// anything leaking — garbage waits for the next collection, which an idle
// worker may not run for two minutes, and pages freed are returned in
// steps — so no single reading is compared with the baseline. What a leak
// does, and noise does not, is lift the floor: the least of the readings
// of any floorOf consecutive jobs must stay within 10 % (plus a little
// slack on these small processes) of the baseline, the most the worker
// held after any of its warm-up jobs. The live heap is the leak detector:
// its warm-up is one job of each spec. The resident set also counts the
// runtime's fragmentation, which on a fresh process grows for a few more
// jobs to a plateau (seen: RssAnon 5.3 → 12 MiB over 8 jobs while the
// live heap stayed at 2–6 MB), so its warm-up is two rounds.
type memCheck struct {
	h    *hosts
	seen map[int]*history // by pid
}

// history is one worker process's readings after each job it ran.
type history struct {
	rss, heap []int64
}

const floorOf = 5

func newMemCheck(h *hosts) *memCheck { return &memCheck{h: h, seen: map[int]*history{}} }

// within is the bound on the floor of a worker's readings: 10 % over its
// baseline, and slack for the runtime's own bookkeeping on a small process.
func within(base, slack int64) int64 { return base + base/10 + slack }

// check waits until no live worker holds cached bytes, records each
// worker's memory, checks its floor, and returns the readings for the log.
func (m *memCheck) check(job int) string {
	h := m.h
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	var ws []jobs.Worker
	for {
		var err error
		ws, err = h.members()
		cached := int64(0)
		for _, w := range ws {
			if w.Alive {
				cached += w.CachedBytes
			}
		}
		if err == nil && cached == 0 {
			break
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("a minute after job %d the workers still hold %d cached bytes: %+v", job, cached, ws)
		}
		time.Sleep(100 * time.Millisecond)
	}
	heapOf := map[string]int64{}
	for _, w := range ws {
		if w.Alive {
			heapOf[w.Name] = w.HeapLiveBytes
		}
	}
	var now []string
	for i, p := range h.workers {
		rss, err := p.rss()
		if err != nil {
			continue
		}
		hs := m.seen[p.pid()]
		if hs == nil {
			hs = &history{}
			m.seen[p.pid()] = hs
		}
		hs.rss = append(hs.rss, rss)
		hs.heap = append(hs.heap, heapOf[fmt.Sprintf("w%d", i+1)])
		now = append(now, fmt.Sprintf("%.1f/%.1f", mib(rss), mib(hs.heap[len(hs.heap)-1])))
		for _, c := range []struct {
			what     string
			readings []int64
			warmUp   int
			slack    int64
		}{{"RssAnon", hs.rss, 2 * len(specs), 2 << 20}, {"live heap", hs.heap, len(specs), 1 << 20}} {
			if len(c.readings) < c.warmUp+floorOf {
				continue
			}
			base := slices.Max(c.readings[:c.warmUp])
			if floor := slices.Min(c.readings[len(c.readings)-floorOf:]); floor > within(base, c.slack) {
				dump(h)
				h.t.Fatalf("after job %d, %s (pid %d) held at least %.1f MiB (%s) through its last %d jobs, more than its baseline %.1f MiB + 10 %%: %s",
					job, p.name, p.pid(), mib(floor), c.what, floorOf, mib(base), mibs(c.readings))
			}
		}
	}
	return "RssAnon/live heap " + strings.Join(now, " ") + " MiB"
}

// dump makes every worker write its goroutines into its log, which the
// failure prints: what a worker still holds, and where.
func dump(h *hosts) {
	for _, p := range h.workers {
		p.signal(syscall.SIGQUIT)
		<-p.done
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func mibs(ns []int64) string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = fmt.Sprintf("%.1f", mib(n))
	}
	return strings.Join(out, " ")
}
