package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/flintml/flint/internal/syncbuf"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

const envUpWorker = "FLINT_TEST_UP_DRIVER"

// TestUpWorkerChild is the worker process of TestUpFitsOnWorkers: the test
// binary re-executed, running the worker command.
func TestUpWorkerChild(t *testing.T) {
	driver := os.Getenv(envUpWorker)
	if driver == "" {
		t.Skip("only runs as a worker process of TestUpFitsOnWorkers")
	}
	root := &cobra.Command{Use: "flint", SilenceUsage: true}
	var errOut bytes.Buffer
	root.AddCommand(newWorkerCmd(streams{out: &errOut, err: &errOut}))
	root.SetArgs([]string{"worker", "--driver", driver})
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err, errOut.String())
	}
}

func testWorker(driver string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^TestUpWorkerChild$", "-test.count=1")
	c.Env = append(os.Environ(), envUpWorker+"="+driver)
	return c
}

func TestUpFitsOnWorkers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for range 2000 {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		y := 0
		if 2*x1-x2+0.3*r.NormFloat64() > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%d,%g,%g\n", y, x1, x2)
	}
	path := filepath.Join(t.TempDir(), "d.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncbuf.Buffer
	s := streams{in: strings.NewReader(""), out: &out, err: &errOut}
	root := newRootCmd(s.in, s.out, s.err)
	for _, c := range root.Commands() {
		if c.Name() == "up" { // replaced by one that starts test-binary workers
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newUpCmdWith(s, testWorker))
	root.SetArgs([]string{"up", "--workers", "2", "--heartbeat", "100ms", "--file", path})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"with 2 workers", "w1", "w2", "loaded 2000 rows × 2 features in 4 partitions", "logistic regression in"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s\nstderr:\n%s", want, out.String(), errOut.String())
		}
	}
}

func TestUpAndWorkerFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"worker"}, `"driver" not set`},
		{[]string{"up", "--workers", "0"}, "at least 1"},
		{[]string{"up", "--file", "a.csv", "--topic", "t"}, "not both"},
		{[]string{"up", "--secret-file", "/no/such/secret"}, "--secret-file"},
		{[]string{"up", "--tls-cert", "c.pem"}, "go together"},
		{[]string{"worker", "--driver", "x:1", "--tls-ca", "ca.pem"}, "--tls-ca needs"},
	} {
		var out bytes.Buffer
		s := streams{in: strings.NewReader(""), out: &out, err: &out}
		root := newRootCmd(s.in, s.out, s.err)
		root.AddCommand(newWorkerCmd(s), newUpCmd(s))
		root.SetArgs(tc.args)
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("flint %s: %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
