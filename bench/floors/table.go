package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results are the metrics of each benchmark run, by package path and
// benchmark name (without the -GOMAXPROCS suffix): one map per run, so
// that -count > 1 gives several.
type results map[string][]map[string]float64

// benchLine matches a result line of go test -bench: the name, the
// iterations, then value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseBench reads go test -bench output: "pkg:" lines name the package of
// the results that follow.
func parseBench(r io.Reader) (results, error) {
	res := results{}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		if len(f)%2 != 0 {
			continue // not a result line after all (a log line that looks like one)
		}
		metrics := map[string]float64{}
		for i := 0; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark output %q: value %q of %s: %v", line, f[i], f[i+1], err)
			}
			metrics[f[i+1]] = v
		}
		res[pkg+"."+m[1]] = append(res[pkg+"."+m[1]], metrics)
	}
	return res, sc.Err()
}

// median is the median of unit over the runs of the first benchmark whose
// key matches re, with that key; ok is false when none has it.
func (r results) median(re *regexp.Regexp, unit string) (v float64, key string, ok bool) {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !re.MatchString(k) {
			continue
		}
		var vs []float64
		for _, m := range r[k] {
			if x, ok := m[unit]; ok {
				vs = append(vs, x)
			}
		}
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		return vs[len(vs)/2], k, true
	}
	return 0, "", false
}

// hotPath is a row of the table: a benchmark's rate beside a floor's.
type hotPath struct {
	what  string
	bench *regexp.Regexp // matched against "package.BenchmarkName/sub"
	unit  string         // the metric read
	// rate turns the metric into the rate compared with the floor (nil:
	// the metric itself), in rateUnit.
	rate     func(float64) float64
	rateUnit string
	// floor names the floor and returns it (ok false: not measured); a
	// floor of the benchmark's own run reads it from there.
	floor     func(f *floors, r results, key string) (name string, v float64, ok bool)
	goal      string
	floorUnit string
}

const (
	logDisk = `github\.com/flintml/flint/log/disk\.`
	serving = `github\.com/flintml/flint/serving\.`
	mlPkg   = `github\.com/flintml/flint/ml\.`
	kmeans  = `github\.com/flintml/flint/ml/kmeans\.`
	als     = `github\.com/flintml/flint/ml/als\.`
	// lloydBytes is what one Lloyd iteration on Fashion-MNIST reads: the
	// 60 000 × 784 float64 matrix once.
	lloydBytes = 60_000 * 784 * 8
)

// sameRun is a floor that the benchmark measured itself, as metric unit.
func sameRun(name, unit string) func(*floors, results, string) (string, float64, bool) {
	return func(_ *floors, r results, key string) (string, float64, bool) {
		v, _, ok := r.median(regexp.MustCompile("^"+regexp.QuoteMeta(key)+"$"), unit)
		return name, v, ok
	}
}

func fromFloors(name string, get func(*floors) float64) func(*floors, results, string) (string, float64, bool) {
	return func(f *floors, _ results, _ string) (string, float64, bool) {
		v := get(f)
		return name, v, v > 0
	}
}

var hotPaths = []hotPath{
	{what: "log append 100 B, interval fsync", bench: regexp.MustCompile(logDisk + `BenchmarkAppendSyncRatio$`),
		unit: "interval-records/s", rateUnit: "records/s", floorUnit: "records/s",
		floor: sameRun("the same appends without fsync (same run)", "never-records/s"), goal: "≥ 90 %"},
	{what: "log append 1 KiB, interval fsync", bench: regexp.MustCompile(logDisk + `BenchmarkAppend/size=1024/sync=interval$`),
		unit: "MB/s", rateUnit: "MB/s", floorUnit: "MB/s",
		floor: fromFloors("dd conv=fdatasync", func(f *floors) float64 { return f.DiskMBs }), goal: "≥ 80 %"},
	{what: "serving, 1-row predict (wrk)", bench: regexp.MustCompile(serving + `BenchmarkServeWrk/rows=1/accesslog=0$`),
		unit: "req/s", rateUnit: "req/s", floorUnit: "req/s",
		floor: sameRun("bare echo handler (same run)", "floor-req/s"), goal: "≥ 85 %"},
	{what: "logistic gradient pass", bench: regexp.MustCompile(mlPkg + `BenchmarkGradientPass/`),
		unit: "GB/s", rateUnit: "GB/s", floorUnit: "GB/s",
		floor: fromFloors("memory bandwidth (sum)", func(f *floors) float64 { return f.SumGBs }), goal: "≥ 50 % (≤ 2× its time)"},
	{what: "softmax gradient pass (60 000 × 784, 10 classes)", bench: regexp.MustCompile(mlPkg + `BenchmarkSoftmaxPass/`),
		unit: "GB/s", rateUnit: "GB/s", floorUnit: "GB/s",
		floor: sameRun("parallel sum, same partitions (same run)", "floor-GB/s"), goal: "≥ 50 % (≤ 2× its time)"},
	{what: "k-means Lloyd iteration (Fashion-MNIST)", bench: regexp.MustCompile(kmeans + `BenchmarkLloydFashionMNIST/`),
		unit: "ms/iter", rate: func(ms float64) float64 { return lloydBytes / (ms / 1e3) / 1e9 }, rateUnit: "GB/s", floorUnit: "GB/s",
		floor: fromFloors("memory bandwidth (sum)", func(f *floors) float64 { return f.SumGBs }), goal: "≥ 67 % (≤ 1.5× its time)"},
	{what: "k-means Lloyd iteration, compute", bench: regexp.MustCompile(kmeans + `BenchmarkLloydFashionMNIST/`),
		unit: "GFLOP/s", rateUnit: "GFLOP/s", floorUnit: "GFLOP/s",
		floor: fromFloors("OpenBLAS dgemm (numpy)", func(f *floors) float64 { return f.DgemmGF })},
	{what: "ALS iteration, rank 10", bench: regexp.MustCompile(als + `BenchmarkALSIteration/.*rank=10$`),
		unit: "GFLOP/s", rateUnit: "GFLOP/s", floorUnit: "GFLOP/s",
		floor: fromFloors("OpenBLAS dgemm (numpy)", func(f *floors) float64 { return f.DgemmGF })},
	{what: "ALS iteration, rank 50", bench: regexp.MustCompile(als + `BenchmarkALSIteration/.*rank=50$`),
		unit: "GFLOP/s", rateUnit: "GFLOP/s", floorUnit: "GFLOP/s",
		floor: fromFloors("OpenBLAS dgemm (numpy)", func(f *floors) float64 { return f.DgemmGF }), goal: "≥ 50 %"},
}

// printFloors writes the floors measured.
func printFloors(w io.Writer, f *floors) {
	fmt.Fprintf(w, "\nFloors (%s, %d cores):\n", f.CPU, f.Cores)
	row := func(what string, v float64, unit, how string) {
		if v > 0 {
			fmt.Fprintf(w, "  %-28s %10.1f %-8s %s\n", what, v, unit, how)
		}
	}
	row("memory bandwidth, sum", f.SumGBs, "GB/s", fmt.Sprintf("parallel sum of %d MiB of float64, best of 5", f.memBytes>>20))
	row("memory bandwidth, copy", f.CopyGBs, "GB/s", "parallel copy, bytes read + written, best of 5")
	row("disk write + fdatasync", f.DiskMBs, "MB/s", fmt.Sprintf("dd if=/dev/zero bs=1M count=%d conv=fdatasync", f.diskBytes>>20))
	row("dgemm 2048×2048 float64", f.DgemmGF, "GFLOP/s", "numpy a @ b, best of 5 ("+f.BLAS+")")
	row("bare echo handler", f.EchoReqs, "req/s", fmt.Sprintf("wrk -t1 -c16 -d%v, 1.7 KB POST", f.echoPeriod))
	for _, n := range f.Notes {
		fmt.Fprintf(w, "  (%s)\n", n)
	}
}

// printTable writes each hot path beside its floor, one row per build
// (builds name the keys of r, in order), the builds of a path together.
func printTable(w io.Writer, f *floors, builds []string, r map[string]results) {
	fmt.Fprintf(w, "\nHot paths against their floors (medians over -count runs):\n")
	fmt.Fprintf(w, "  %-48s %-9s %14s %-8s  %-42s %14s  %7s  %s\n", "hot path", "build", "measured", "", "floor", "floor value", "ratio", "goal")
	for _, h := range hotPaths {
		for _, build := range builds {
			v, key, ok := r[build].median(h.bench, h.unit)
			if !ok {
				fmt.Fprintf(w, "  %-48s %-9s %14s\n", h.what, build, "not run")
				continue
			}
			if h.rate != nil {
				v = h.rate(v)
			}
			name, fv, ok := h.floor(f, r[build], key)
			if !ok {
				fmt.Fprintf(w, "  %-48s %-9s %14.4g %-8s  %-42s %14s\n", h.what, build, v, h.rateUnit, name, "not measured")
				continue
			}
			fmt.Fprintf(w, "  %-48s %-9s %14.4g %-8s  %-42s %14.4g  %6.1f%%  %s\n", h.what, build, v, h.rateUnit, name, fv, 100*v/fv, h.goal)
		}
	}
}
