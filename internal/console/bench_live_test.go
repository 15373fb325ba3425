package console

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer"
	"github.com/flintml/flint/trainer/jobs"
)

// BenchmarkLiveUpdateCost is the cost of the console's live updates on a
// running job's iteration rate. A driver's Manager and console (recording
// every iteration, as flint driver does) run the same logistic job
// (benchRows rows of 20 features, 300 full-batch SGD iterations: unlike
// L-BFGS, which stops early on this data, it runs all of them, for about
// a second of fitting) over and over, alternately with no one watching and with N browsers' worth of subscribers on the
// job page's event stream — real HTTP clients on loopback, attached
// before the job starts (Manager's Ready gate), each sent the job's status
// and three charts at every change, ten a second at most. The rate is the
// optimiser's own: iterations over the Elapsed of the fit's last report.
// It reports both rates and live/none, the ratio (1 − ratio is the cost).
//
//	go test ./internal/console -run '^$' -bench LiveUpdateCost -benchtime 10x -count 3
func BenchmarkLiveUpdateCost(b *testing.B) {
	spec := liveBenchSpec(b)
	for _, subs := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			lb := newLiveBench(b)
			lb.run(b, spec, subs) // warm up: not counted
			var rate [2]struct {
				iters   int
				elapsed time.Duration
			}
			k := 0
			for b.Loop() {
				for _, watched := range [2]bool{k%2 == 1, k%2 == 0} { // alternate which goes first
					n := 0
					if watched {
						n = subs
					}
					iters, elapsed := lb.run(b, spec, n)
					r := &rate[btoi(watched)]
					r.iters += iters
					r.elapsed += elapsed
				}
				k++
			}
			none := float64(rate[0].iters) / rate[0].elapsed.Seconds()
			live := float64(rate[1].iters) / rate[1].elapsed.Seconds()
			b.ReportMetric(none, "iter/s-none")
			b.ReportMetric(live, "iter/s-live")
			b.ReportMetric(live/none, "live/none")
			b.ReportMetric(float64(rate[0].iters+rate[1].iters)/float64(2*b.N), "iter/job")
		})
	}
}

// benchRows is the rows of the benchmark's job: enough that a fit takes
// about a second, so that a run is far longer than the stream's 100 ms
// between updates and the scheduler's noise.
const benchRows = 50000

// liveBenchSpec writes the job's data, 20 features of very different
// scales and a linearly separable label, and returns its spec.
func liveBenchSpec(b *testing.B) string {
	r := rand.New(rand.NewPCG(3, 4))
	const cols = 20
	var names []string
	for j := range cols {
		names = append(names, fmt.Sprintf("x%d", j))
	}
	lines := []string{strings.Join(names, ",") + ",y"}
	row := make([]string, cols+1)
	for range benchRows {
		m := 0.0
		for j := range cols {
			x := r.NormFloat64()
			m += x * float64(j%5-2)
			// Scales from 10⁻² to 10².
			row[j] = strconv.FormatFloat(x*math.Pow(10, float64(j%5-2)), 'g', 6, 64)
		}
		row[cols] = "0"
		if m > 0 {
			row[cols] = "1"
		}
		lines = append(lines, strings.Join(row, ","))
	}
	csv := trainertest.WriteLines(b, "live.csv", lines)
	fields := make([]string, 0, cols+1)
	for _, n := range append(names, "y") {
		fields = append(fields, fmt.Sprintf("{name: %s, type: numeric}", n))
	}
	return fmt.Sprintf(`name: bench
source: {files: [%q], header: true}
schema:
  format: csv
  fields: [%s]
  label: y
algorithm:
  logistic_regression: {solver: sgd, max_iter: 300, tol: 1e-300, standardization: false}
engine: {workers: 1}
`, csv, strings.Join(fields, ", "))
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// liveBench is a Manager and its console, served on loopback, whose jobs
// wait at the Ready gate until their subscribers are attached.
type liveBench struct {
	m      *jobs.Manager
	con    *Console
	url    string
	gate   chan struct{}
	lastID string // the last job run

	mu   sync.Mutex
	fits map[string]fitRate // by job id, the final fit's
}

type fitRate struct {
	iters   int
	elapsed time.Duration // of the last report
}

func newLiveBench(b *testing.B) *liveBench {
	st, err := local.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	lb := &liveBench{gate: make(chan struct{}), fits: map[string]fitRate{}}
	curves := NewCurves()
	lb.m, err = jobs.NewManager(context.Background(), jobs.ManagerConfig{Store: st, Logger: trainertest.QuietLogger(),
		Observe: func(id string) trainer.Observer { return observers{curves.Observe(id), rateObserver{lb, id}} },
		Ready: func(ctx context.Context) error {
			select {
			case <-lb.gate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lb.m.Close() })
	lb.con, err = New(Config{Jobs: lb.m, Curves: curves, Logger: trainertest.QuietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	lb.url = serve(b, lb.con)
	return lb
}

type rateObserver struct {
	lb *liveBench
	id string
}

func (o rateObserver) Phase(string) {}

func (o rateObserver) Iteration(trial int, p ml.Progress, _ int) {
	if trial != 0 {
		return
	}
	o.lb.mu.Lock()
	f := o.lb.fits[o.id]
	o.lb.fits[o.id] = fitRate{iters: f.iters + 1, elapsed: p.Elapsed}
	o.lb.mu.Unlock()
}

// run submits the job, attaches subs subscribers to its page's event
// stream, lets it start, and returns its final fit's iterations and time.
func (lb *liveBench) run(b *testing.B, spec string, subs int) (int, time.Duration) {
	ctx := context.Background()
	j, err := lb.m.Submit(ctx, "job.yaml", []byte(spec))
	if err != nil {
		b.Fatal(err)
	}
	var attached, done sync.WaitGroup
	for range subs {
		attached.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			lb.follow(b, j.ID, attached.Done)
		}()
	}
	attached.Wait()
	lb.gate <- struct{}{}
	if j, err = lb.m.Wait(ctx, j.ID); err != nil || j.Result == nil {
		b.Fatalf("job: %v %s", err, j.Error)
	}
	done.Wait()
	lb.lastID = j.ID
	lb.mu.Lock()
	f := lb.fits[j.ID]
	lb.mu.Unlock()
	return f.iters, f.elapsed
}

// follow reads job id's page events, as a browser does, until the stream
// ends; attached is called once the first message has arrived.
func (lb *liveBench) follow(b *testing.B, id string, attached func()) {
	once := sync.OnceFunc(attached)
	defer once()
	resp, err := http.Get(lb.url + "/jobs/" + id + "/events")
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("GET %s/jobs/%s/events: %s", lb.url, id, resp.Status)
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if sc.Text() == "" || strings.HasPrefix(sc.Text(), "event: end") {
			once() // a whole message has arrived
		}
	}
}

// BenchmarkLiveUpdateRender is the CPU one live update of a job page costs
// its stream's goroutine: the job's status and its three charts of 300
// points each, rendered. A running job's stream renders at most ten a
// second, so N subscribers take at most 10·N times this a second of CPU.
//
//	go test ./internal/console -run '^$' -bench LiveUpdateRender -count 3
func BenchmarkLiveUpdateRender(b *testing.B) {
	lb := newLiveBench(b)
	lb.run(b, liveBenchSpec(b), 0)
	var n int
	for b.Loop() {
		d, err := lb.con.jobData(lb.lastID, ScopeRead)
		if err != nil {
			b.Fatal(err)
		}
		status, err := lb.con.fragment("job", "job-status", d)
		if err != nil {
			b.Fatal(err)
		}
		charts, err := lb.con.fragment("job", "job-charts", d)
		if err != nil {
			b.Fatal(err)
		}
		n = len(status) + len(charts)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/update")
	b.ReportMetric(float64(n), "bytes/update")
}
