package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/internal/logspec"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestOpenLogReadOnlyCreatesDir checks that openLogReadOnly creates a
// missing log directory, then opens it read-only.
func TestOpenLogReadOnlyCreatesDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "not", "yet")
	l, err := openLogReadOnly(ctx, "dir:"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("openLogReadOnly did not create %s: %v", dir, err)
	}
	if err := l.Append(ctx, "t", []log.Record{{Value: []byte("x")}}); !errors.Is(err, disk.ErrReadOnly) {
		t.Fatalf("Append: %v, want disk.ErrReadOnly", err)
	}
	if _, err := openLogReadOnly(ctx, "dir:"); err == nil || !strings.Contains(err.Error(), "empty directory") {
		t.Fatalf(`openLogReadOnly("dir:"): %v`, err)
	}
}

// TestLogCommandsWithSASL runs the log commands against a broker that
// requires SCRAM-SHA-256, with the credentials in the environment, then
// with a wrong password and with none.
func TestLogCommandsWithSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "flint", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	logFlag := "--log=kafka:" + strings.Join(c.ListenAddrs(), ",") + "?sasl=scram-sha-256"

	t.Setenv(logspec.EnvUsername, "flint")
	t.Setenv(logspec.EnvPassword, "s3cret")
	mustRun(t, "", logFlag, "log", "create", "events", "--partitions", "2")
	if _, errOut, err := run(t, "k1\tv1\nk2\tv2\n", logFlag, "log", "produce", "events"); err != nil || !strings.Contains(errOut, "produced 2 records") {
		t.Fatalf("produce: %v, stderr %q", err, errOut)
	}
	if got := sortedLines(mustRun(t, "", logFlag, "log", "consume", "events", "--format", "kv")); strings.Join(got, "\n") != "k1\tv1\nk2\tv2" {
		t.Fatalf("consume: %q", got)
	}

	for _, bad := range []struct{ user, pass, want string }{
		{"flint", "wrong", `authentication failed for user "flint" (sasl=scram-sha-256, credentials from FLINT_KAFKA_USERNAME and FLINT_KAFKA_PASSWORD)`},
		{"", "", "FLINT_KAFKA_USERNAME and FLINT_KAFKA_PASSWORD are not set"},
	} {
		t.Setenv(logspec.EnvUsername, bad.user)
		t.Setenv(logspec.EnvPassword, bad.pass)
		start := time.Now()
		_, _, err := run(t, "", logFlag, "log", "topics")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("log topics as %q/%q: %v, want %q", bad.user, bad.pass, err, bad.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("log topics as %q/%q took %v to fail", bad.user, bad.pass, d)
		}
	}
}
