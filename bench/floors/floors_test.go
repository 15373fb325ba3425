package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseDD(t *testing.T) {
	cases := []struct {
		out  string
		want float64
	}{
		{"1024+0 records in\n1024+0 records out\n1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.23872 s, 480 MB/s\n", 480},
		{"536870912 bytes (537 MB, 512 MiB) copied, 0.4 s, 1.3 GB/s\n", 1300},
		{"1048576 bytes (1.0 MB, 1.0 MiB) copied, 0.01 s, 105 kB/s\n", 0.105},
		{"1048576 bytes (1,0 MB, 1,0 MiB) copied, 0,5 s, 2,1 MB/s\n", 2.1},
	}
	for _, c := range cases {
		got, err := parseDD(c.out)
		if err != nil || got < c.want*0.999 || got > c.want*1.001 {
			t.Errorf("parseDD(%q) = %v, %v; want %v", c.out, got, err, c.want)
		}
	}
	if _, err := parseDD("dd: failed to open 'x': Permission denied\n"); err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("parseDD of an error = %v, want an error quoting dd", err)
	}
}

func TestParseWrk(t *testing.T) {
	out := "Running 3s test @ http://127.0.0.1:1/predict\n  1 threads and 16 connections\nRequests/sec:  23313.52\nTransfer/sec:      5.34MB\n"
	if got, err := parseWrk(out); err != nil || got != 23313.52 {
		t.Errorf("parseWrk = %v, %v", got, err)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk accepted a report without a rate")
	}
}

const benchOut = `goos: linux
goarch: amd64
pkg: github.com/flintml/flint/log/disk
cpu: Oxide Virtual Turin-like Processor
BenchmarkAppendSyncRatio-2   	      80	  28431841 ns/op	   7018995 interval-records/s	         0.9955 interval/never	   7050935 never-records/s	   25011 B/op	      21 allocs/op
BenchmarkAppendSyncRatio-2   	      80	  29242632 ns/op	   6653995 interval-records/s	         0.9457 interval/never	   7036047 never-records/s	   26161 B/op	      21 allocs/op
BenchmarkAppendSyncRatio-2   	      80	  19384828 ns/op	   9288153 interval-records/s	         0.8004 interval/never	  11604295 never-records/s	   28131 B/op	      20 allocs/op
--- BENCH: BenchmarkAppendSyncRatio-2
    bench_test.go:233: BenchmarkX 1 2 3
PASS
ok  	github.com/flintml/flint/log/disk	17.152s
pkg: github.com/flintml/flint/ml/kmeans
BenchmarkLloydFashionMNIST/rows=60000/dim=784/k=10/workers=2-2         	      20	  24800000 ns/op	        24.80 ms/iter	        47.0 cpu-ms/iter	        37.9 GFLOP/s
`

func TestParseBenchAndTable(t *testing.T) {
	r, err := parseBench(strings.NewReader(benchOut))
	if err != nil {
		t.Fatal(err)
	}
	v, key, ok := r.median(regexp.MustCompile(logDisk+`BenchmarkAppendSyncRatio$`), "interval/never")
	if !ok || key != "github.com/flintml/flint/log/disk.BenchmarkAppendSyncRatio" || v != 0.9457 {
		t.Fatalf("median = %v %q %v, want 0.9457 of the three runs", v, key, ok)
	}
	if n := len(r["github.com/flintml/flint/log/disk.BenchmarkAppendSyncRatio"]); n != 3 {
		t.Fatalf("%d runs parsed, want 3 (the log line is not a result)", n)
	}
	f := &floors{SumGBs: 40}
	var b strings.Builder
	printTable(&b, f, []string{"default", "openblas"}, map[string]results{"default": r, "openblas": {}})
	out := b.String()
	for _, want := range []string{
		"log append 100 B, interval fsync",
		"the same appends without fsync (same run)",
		// 376.32 MB in 24.8 ms is 15.17 GB/s, 37.9 % of 40 GB/s.
		"15.17",
		"37.9%",
		"not run",
		"not measured",
		"openblas",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
