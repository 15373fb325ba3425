// Command floors is `make bench`: it measures the machine's floors —
// memory bandwidth (a STREAM-like parallel sum and copy in Go), disk (dd
// … conv=fdatasync), OpenBLAS dgemm through numpy, and a bare echo
// handler's request rate under wrk — then runs the Go benchmarks in the
// same invocation, streaming their output, and prints a table of each hot
// path beside its floor with the ratio.
//
//	go run ./bench/floors                                      # everything, as make bench does
//	go run ./bench/floors -pkgs ./log/disk -bench AppendSyncRatio -benchtime 80x
//	go run ./bench/floors -floors-only
//
// numpy must be importable by -python (/usr/bin/python3 by default: the
// python3 on PATH may lack it); wrk must be on PATH (apt-get install -y
// wrk). A floor that cannot be measured is reported as such, and the
// rows that need it say "not measured".
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	pkgs := flag.String("pkgs", "./...", "packages whose benchmarks run (space-separated)")
	bench := flag.String("bench", ".", "go test -bench pattern")
	benchtime := flag.String("benchtime", "2s", "go test -benchtime")
	count := flag.Int("count", 1, "go test -count")
	timeout := flag.String("timeout", "60m", "go test -timeout")
	dir := flag.String("dir", os.TempDir(), "directory for the disk floor's file")
	python := flag.String("python", "/usr/bin/python3", "a python with numpy, for the dgemm floor")
	memMiB := flag.Int64("mem-mib", 512, "size of the memory bandwidth floor's arrays, MiB")
	diskMiB := flag.Int64("disk-mib", 1024, "bytes the disk floor writes, MiB")
	echoFor := flag.Duration("echo-for", 5*time.Second, "how long wrk drives the bare echo handler")
	floorsOnly := flag.Bool("floors-only", false, "measure the floors and stop")
	flag.Parse()

	f := &floors{memBytes: *memMiB << 20, diskBytes: *diskMiB << 20, echoPeriod: *echoFor}
	f.measure(*dir, *python)
	printFloors(os.Stdout, f)
	if *floorsOnly {
		return
	}
	args := []string{"test", "-run", "^$", "-bench", *bench, "-benchtime", *benchtime,
		"-count", fmt.Sprint(*count), "-timeout", *timeout}
	args = append(args, strings.Fields(*pkgs)...)
	fmt.Printf("\ngo %s\n", strings.Join(args, " "))
	var out bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stdout = io.MultiWriter(os.Stdout, &out)
	cmd.Stderr = os.Stderr
	runErr := cmd.Run()
	res, err := parseBench(&out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floors:", err)
		os.Exit(1)
	}
	printFloors(os.Stdout, f)
	printTable(os.Stdout, f, res)
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "floors: go test:", runErr)
		os.Exit(1)
	}
}
