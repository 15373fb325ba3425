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
//	go run ./bench/floors -builds default,openblas -pkgs ./ml/kmeans -bench Lloyd   # as make bench-openblas
//
// -builds runs the benchmarks once per build, alternating the builds in
// each of the -count rounds so that both see the same machine, and prints
// one table row per build: "default" is the plain build, any other name is
// passed to go test -tags (openblas: Flint's OpenBLAS build, see
// ml/internal/openblas). -disk-mib 0 and -echo-for 0 skip those floors.
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
	buildList := flag.String("builds", "default", `comma-separated builds to benchmark, alternating: "default" or go build tags (e.g. openblas)`)
	flag.Parse()
	builds := strings.Split(*buildList, ",")

	f := &floors{memBytes: *memMiB << 20, diskBytes: *diskMiB << 20, echoPeriod: *echoFor}
	f.measure(*dir, *python)
	printFloors(os.Stdout, f)
	if *floorsOnly {
		return
	}
	// One build runs its -count rounds in one go test; several alternate,
	// a round of each in turn.
	rounds, perRun := 1, *count
	if len(builds) > 1 {
		rounds, perRun = *count, 1
	}
	res := map[string]results{}
	var runErr error
	for range rounds {
		for _, build := range builds {
			args := []string{"test", "-run", "^$", "-bench", *bench, "-benchtime", *benchtime,
				"-count", fmt.Sprint(perRun), "-timeout", *timeout}
			if build != "default" {
				args = append(args, "-tags", build)
			}
			args = append(args, strings.Fields(*pkgs)...)
			fmt.Printf("\ngo %s\n", strings.Join(args, " "))
			var out bytes.Buffer
			cmd := exec.Command("go", args...)
			cmd.Stdout = io.MultiWriter(os.Stdout, &out)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil && runErr == nil {
				runErr = fmt.Errorf("go test, build %s: %w", build, err)
			}
			r, err := parseBench(&out)
			if err != nil {
				fmt.Fprintln(os.Stderr, "floors:", err)
				os.Exit(1)
			}
			if res[build] == nil {
				res[build] = results{}
			}
			for k, v := range r {
				res[build][k] = append(res[build][k], v...)
			}
		}
	}
	printFloors(os.Stdout, f)
	printTable(os.Stdout, f, builds, res)
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "floors:", runErr)
		os.Exit(1)
	}
}
