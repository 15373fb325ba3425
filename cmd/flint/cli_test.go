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
