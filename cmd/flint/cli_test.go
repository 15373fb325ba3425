package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A word that names no subcommand fails with a one-line error and a
// non-zero exit, at every level, so a typo in a script does not pass.
func TestUnknownSubcommandFails(t *testing.T) {
	for _, args := range [][]string{{"models", "list"}, {"log", "lst"}, {"modelz"}} {
		_, stderr, code := flintProc(t, "", args...)
		if code == 0 || !strings.Contains(stderr, "unknown command") || !strings.Contains(stderr, args[len(args)-1]) {
			t.Errorf("flint %s: exit %d, stderr %q; want a non-zero exit naming the unknown command", strings.Join(args, " "), code, stderr)
		}
	}
	// A group command alone still prints its help.
	stdout, _, code := flintProc(t, "", "models")
	if code != 0 || !strings.Contains(stdout, "Usage:") {
		t.Errorf("flint models: exit %d, stdout %q", code, stdout)
	}
}

func TestVersion(t *testing.T) {
	stdout, _, code := flintProc(t, "", "version")
	if code != 0 || !strings.HasPrefix(stdout, "flint ") || !strings.Contains(stdout, runtime.Version()) {
		t.Fatalf("flint version: exit %d, %q", code, stdout)
	}
}

// A command that only looks at the store says a mistyped directory is
// missing, instead of creating it and printing an empty table.
func TestModelsOnMissingStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nostore")
	_, stderr, code := flintProc(t, "", "--store", "dir:"+dir, "models", "ls")
	if code == 0 || !strings.Contains(stderr, dir+" does not exist") {
		t.Fatalf("models ls on a missing store: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("models ls created the store directory: %v", err)
	}
}

// An unreachable broker is named with the timeouts that applied and the
// network's reason, in one line without the client library's internals.
func TestUnreachableKafkaOneLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	_, stderr, code := flintProc(t, "", "--log", "kafka:"+addr, "log", "topics")
	if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, "no broker answered at "+addr+" (dial timeout") || strings.Contains(stderr, "kafka.(*Client)") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// flint train --driver with no driver there says so in one sentence.
func TestTrainDriverNotThere(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	_, stderr, code := flintProc(t, "", "train", "--driver", url, "-f", clicksJob(t, "nodriver"))
	if code == 0 || !strings.HasPrefix(stderr, "flint: no driver answers at "+url+" (connect: connection refused); start one with flint driver") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// --dry-run through the binary finds what the run would trip on: a topic
// missing from the log, named with the log and the spec's line, and a
// YAML syntax error at its own line.
func TestDryRunChecksSources(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	if _, stderr, code := flintProc(t, "", "--log", "dir:"+logDir, "log", "create", "houses"); code != 0 {
		t.Fatal(stderr)
	}
	spec := filepath.Join(dir, "job.yaml")
	write := func(text string) {
		if err := os.WriteFile(spec, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const body = "\nschema:\n  format: csv\n  fields: [{name: a, type: numeric}, {name: y, type: numeric}]\n  label: y\nalgorithm:\n  linear_regression: {}\n"
	write("name: houses\nsource: {topic: housez}" + body)
	_, stderr, code := flintProc(t, "", "--log", "dir:"+logDir, "train", "--dry-run", "-f", spec)
	if code == 0 || !strings.Contains(stderr, spec+`:2:17: source.topic: topic "housez" does not exist in the log at dir:`+logDir) {
		t.Fatalf("missing topic: exit %d, %q", code, stderr)
	}
	write("name: houses\nsource: {topic: houses}" + body)
	if stdout, stderr, code := flintProc(t, "", "--log", "dir:"+logDir, "train", "--dry-run", "-f", spec); code != 0 || !strings.Contains(stdout, "job houses: valid") {
		t.Fatalf("valid spec: exit %d, %q %q", code, stdout, stderr)
	}
	write("name: houses\nsource: {topic: houses" + body)
	if _, stderr, code := flintProc(t, "", "train", "--dry-run", "-f", spec); code == 0 || !strings.Contains(stderr, spec+":2:") {
		t.Fatalf("unclosed flow mapping: exit %d, %q", code, stderr)
	}
}
