package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"gonum.org/v1/gonum/floats"
)

// floors are the machine's limits, measured in the same run as the
// benchmarks they bound. A zero field was not measured (its Note says why).
type floors struct {
	CPU        string
	Cores      int
	SumGBs     float64 // parallel read (sum) of a large float64 slice
	CopyGBs    float64 // parallel copy, read plus written bytes
	DiskMBs    float64 // dd of zeros, conv=fdatasync
	DgemmGF    float64 // numpy a @ b, float64
	BLAS       string  // the BLAS library numpy loaded
	EchoReqs   float64 // bare echo handler under wrk
	Notes      []string
	memBytes   int64
	diskBytes  int64
	echoPeriod time.Duration
}

// cpuName is the model name /proc/cpuinfo gives.
func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// memoryBandwidth is a STREAM-like floor: the best of five parallel passes
// (one goroutine per core, each over its own contiguous part) that sum a
// float64 slice of bytes bytes (with gonum's SIMD floats.Sum, so that the
// adds are not what bounds it), and that copy it into another, in GB/s
// (the copy counts the bytes read and written).
func memoryBandwidth(bytes int64) (sum, copyRate float64) {
	n := int(bytes / 8)
	src, dst := make([]float64, n), make([]float64, n)
	for i := range src {
		src[i] = float64(i & 1023)
	}
	copy(dst, src) // fault both in before timing
	workers := runtime.GOMAXPROCS(0)
	parts := func(f func(w, lo, hi int)) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { f(w, n*w/workers, n*(w+1)/workers) })
		}
		wg.Wait()
		return time.Since(start)
	}
	sums := make([]float64, workers*8) // a cache line apart
	bestSum, bestCopy := time.Duration(1<<62), time.Duration(1<<62)
	for range 5 {
		bestSum = min(bestSum, parts(func(w, lo, hi int) {
			sums[w*8] = floats.Sum(src[lo:hi]) // gonum's SIMD sum, as ml's floor
		}))
		bestCopy = min(bestCopy, parts(func(_, lo, hi int) { copy(dst[lo:hi], src[lo:hi]) }))
	}
	return float64(bytes) / bestSum.Seconds() / 1e9, 2 * float64(bytes) / bestCopy.Seconds() / 1e9
}

// ddRate matches the rate at the end of dd's summary line, e.g.
// "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.2 s, 480 MB/s".
var ddRate = regexp.MustCompile(`copied, [0-9.,]+ s, ([0-9.,]+) ([kMG]?B)/s`)

// parseDD returns the rate in dd's summary as MB/s.
func parseDD(out string) (float64, error) {
	m := ddRate.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no rate in dd's output %q", strings.TrimSpace(out))
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", "."), 64)
	if err != nil {
		return 0, fmt.Errorf("dd rate %q: %v", m[1], err)
	}
	switch m[2] {
	case "kB":
		v /= 1e3
	case "GB":
		v *= 1e3
	case "B":
		v /= 1e6
	}
	return v, nil
}

// diskWrite runs dd if=/dev/zero of=DIR/… bs=1M conv=fdatasync for bytes
// bytes and returns its MB/s.
func diskWrite(dir string, bytes int64) (float64, error) {
	f, err := os.CreateTemp(dir, "flint-floor-dd-*")
	if err != nil {
		return 0, err
	}
	f.Close()
	defer os.Remove(f.Name())
	out, err := exec.Command("dd", "if=/dev/zero", "of="+f.Name(), "bs=1M",
		"count="+strconv.FormatInt(bytes>>20, 10), "conv=fdatasync").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("dd: %v: %s", err, out)
	}
	return parseDD(string(out))
}

// dgemmScript times numpy's a @ b on two n×n float64 matrices (best of
// five) and names the BLAS library the process mapped.
const dgemmScript = `
import sys, time
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(1)
a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
a @ b
best = float("inf")
for _ in range(5):
    t = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - t)
libs = sorted({l.split()[-1].rsplit("/", 1)[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and "/" in l})
print(2 * n ** 3 / best / 1e9, ",".join(libs) or "unknown")
`

// dgemm runs dgemmScript with python and returns GFLOP/s and the BLAS.
func dgemm(python string, n int) (float64, string, error) {
	out, err := exec.Command(python, "-c", dgemmScript, strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("%s: %v: %s", python, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return 0, "", fmt.Errorf("%s printed %q", python, out)
	}
	g, err := strconv.ParseFloat(f[0], 64)
	return g, f[1], err
}

// echoBody is what the bare echo handler is sent: about the size of a
// single-row request of the serving benchmark's 100-feature model.
var echoBody = `{"rows": [{` + strings.Repeat(`"f00": -1.234567, `, 99) + `"f99": 0.5}]}`

// echoRate starts a bare echo handler on loopback (read the body, answer a
// fixed JSON body) and returns the request rate wrk (one thread, 16
// connections, in another process) gets from it in d.
func echoRate(wrk string, d time.Duration) (float64, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	answer := []byte(`{"predictions":[{"class":1,"probabilities":[0.25,0.75]}],"model":"bench","version":1}`)
	e.POST("/predict", func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, answer)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: e}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	dir, err := os.MkdirTemp("", "flint-floor-wrk-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "post.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", echoBody)
	if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
		return 0, err
	}
	out, err := exec.Command(wrk, "-t1", "-c16", "-d"+d.String(), "-s", script, "http://"+ln.Addr().String()+"/predict").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	return parseWrk(string(out))
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// parseWrk returns the request rate of wrk's report.
func parseWrk(out string) (float64, error) {
	m := wrkRate.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no request rate in wrk's report %q", strings.TrimSpace(out))
	}
	return strconv.ParseFloat(m[1], 64)
}

// measure measures every floor it can; what it cannot is noted.
func (f *floors) measure(dir, python string) {
	f.CPU, f.Cores = cpuName(), runtime.NumCPU()
	f.SumGBs, f.CopyGBs = memoryBandwidth(f.memBytes)
	var err error
	if f.diskBytes <= 0 {
		f.Notes = append(f.Notes, "disk floor not asked for (-disk-mib 0)")
	} else if f.DiskMBs, err = diskWrite(dir, f.diskBytes); err != nil {
		f.Notes = append(f.Notes, "disk floor not measured: "+err.Error())
	}
	if f.DgemmGF, f.BLAS, err = dgemm(python, 2048); err != nil {
		f.Notes = append(f.Notes, "dgemm floor not measured (numpy): "+err.Error())
	}
	if f.echoPeriod <= 0 {
		f.Notes = append(f.Notes, "echo floor not asked for (-echo-for 0)")
	} else if wrk, err := exec.LookPath("wrk"); err != nil {
		f.Notes = append(f.Notes, "echo floor not measured: wrk is not installed (apt-get install -y wrk)")
	} else if f.EchoReqs, err = echoRate(wrk, f.echoPeriod); err != nil {
		f.Notes = append(f.Notes, "echo floor not measured: "+err.Error())
	}
}
