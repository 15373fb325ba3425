package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestMain lets a test run the real main() in a child process: the binary
// re-executes itself with FLINT_TEST_MAIN=1, so exit codes and stderr are
// the program's own.
func TestMain(m *testing.M) {
	if os.Getenv("FLINT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// flint runs the binary's main in a child process.
func flintProc(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FLINT_TEST_MAIN=1")
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// run runs a command in-process.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(strings.NewReader(stdin), &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("flint %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return lines
}

func TestHelpReadsWell(t *testing.T) {
	out := mustRun(t, "", "--help")
	for _, want := range []string{"Flint", "log", "--log", "dir:PATH", "kafka:HOST:PORT"} {
		if !strings.Contains(out, want) {
			t.Errorf("flint --help does not mention %q:\n%s", want, out)
		}
	}
	out = mustRun(t, "", "log", "--help")
	for _, sub := range []string{"topics", "create", "describe", "produce", "consume", "groups"} {
		if !strings.Contains(out, sub) {
			t.Errorf("flint log --help does not list %q", sub)
		}
	}
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	logFlag := "--log=dir:" + filepath.Join(t.TempDir(), "log")
	mustRun(t, "", logFlag, "log", "create", "events", "--partitions", "3")
	var in strings.Builder
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&in, "user-%d\tevent %d\n", i%17, i)
	}
	in.WriteString("no key here\n")
	_, errOut, err := run(t, in.String(), logFlag, "log", "produce", "events", "--batch", "64")
	if err != nil || !strings.Contains(errOut, "produced 501 records") {
		t.Fatalf("produce: %v, stderr %q", err, errOut)
	}
	out := mustRun(t, "", logFlag, "log", "consume", "events", "--format", "kv")
	got := sortedLines(out)
	want := sortedLines(strings.Replace(in.String(), "no key here", "\tno key here", 1))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("consume returned %d lines, want the %d produced", len(got), len(want))
	}
	desc := mustRun(t, "", logFlag, "log", "describe", "events")
	if !strings.Contains(desc, "3 partitions") {
		t.Fatalf("describe: %s", desc)
	}
	topics := mustRun(t, "", logFlag, "log", "topics")
	if !strings.Contains(topics, "events") || !strings.Contains(topics, "501") {
		t.Fatalf("topics: %s", topics)
	}
	// One partition from an offset.
	out = mustRun(t, "", logFlag, "log", "consume", "events", "--partition", "1", "--from", "5", "--format", "full", "--max", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "1\t5\t") || !strings.HasPrefix(lines[1], "1\t6\t") {
		t.Fatalf("consume --partition 1 --from 5 --max 2:\n%s", out)
	}
}

func TestConsumerGroupCommitsAndResumes(t *testing.T) {
	logFlag := "--log=dir:" + filepath.Join(t.TempDir(), "log")
	var in strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&in, "k%d\tv%d\n", i, i)
	}
	mustRun(t, in.String(), logFlag, "log", "produce", "ev")
	first := mustRun(t, "", logFlag, "log", "consume", "ev", "--group", "g", "--max", "15")
	rest := mustRun(t, "", logFlag, "log", "consume", "ev", "--group", "g")
	all := sortedLines(first + rest)
	if n1, n2 := len(sortedLines(first)), len(sortedLines(rest)); n1 != 15 || n2 != 25 || len(all) != 40 {
		t.Fatalf("group read %d then %d records, want 15 then the other 25", n1, n2)
	}
	seen := map[string]bool{}
	for _, l := range all {
		if seen[l] {
			t.Fatalf("record %q delivered twice to the group", l)
		}
		seen[l] = true
	}
	lag := mustRun(t, "", logFlag, "log", "groups", "g", "--topic", "ev")
	if !strings.Contains(lag, "LAG") || strings.Count(lag, "\t0\n")+strings.Count(lag, " 0\n") == 0 {
		t.Fatalf("groups g --topic ev:\n%s", lag)
	}
	groups := mustRun(t, "", logFlag, "log", "groups")
	if strings.TrimSpace(groups) != "g" {
		t.Fatalf("groups = %q, want g", groups)
	}
}

func TestBadInputGetsOneLineErrorAndNonZeroExit(t *testing.T) {
	dir := "dir:" + filepath.Join(t.TempDir(), "log")
	mustRun(t, "", "--log", dir, "log", "create", "t", "--partitions", "2")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--log", dir, "log", "consume", "nope"}, "unknown topic"},
		{[]string{"--log", dir, "log", "consume", "t", "--from", "abc"}, `--from "abc"`},
		{[]string{"--log", dir, "log", "consume", "t", "--from", "9"}, "--from 9"},
		{[]string{"--log", dir, "log", "consume", "t", "--partition", "5"}, "--partition 5"},
		{[]string{"--log", "foo:bar", "log", "topics"}, `unknown backend "foo"`},
		{[]string{"--log", "kafka:nohost", "log", "topics"}, `broker "nohost" is not HOST:PORT`},
		{[]string{"--log", "kafka:", "log", "topics"}, "no brokers"},
		{[]string{"--log", dir, "log", "create", "t"}, "already exists"},
		{[]string{"--log", dir, "log", "create", "bad/name"}, "invalid topic name"},
		{[]string{"--log", dir, "log", "describe", "nope"}, "unknown topic"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[2:], " "), func(t *testing.T) {
			stdout, stderr, code := flintProc(t, "", c.args...)
			if code == 0 {
				t.Fatalf("exit code 0; stdout %q", stdout)
			}
			if !strings.HasPrefix(stderr, "flint: ") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("stderr is not one line starting with \"flint: \": %q", stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Fatalf("stderr %q does not mention %q", stderr, c.want)
			}
		})
	}
}
