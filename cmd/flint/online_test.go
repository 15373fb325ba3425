package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

const onlineSpec = `name: pts
source: {topic: pts}
schema:
  format: csv
  fields:
    - {name: x, type: numeric}
    - {name: y, type: numeric}
algorithm:
  streaming_kmeans: {k: 2}
batch_records: 50
publish: {every_records: 100}
`

// TestOnlineCommand runs flint online as a process on records produced
// with flint log produce: it publishes a version every 100 records,
// and Ctrl-C (SIGINT) stops it with exit 0.
func TestOnlineCommand(t *testing.T) {
	dir := t.TempDir()
	logFlag, storeDir := "--log=dir:"+filepath.Join(dir, "log"), filepath.Join(dir, "models")
	spec := filepath.Join(dir, "online.yaml")
	if err := os.WriteFile(spec, []byte(onlineSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&in, "k%d\t%d,%d\n", i, (i%2)*100+i%7, i%5)
	}
	mustRun(t, in.String(), logFlag, "log", "produce", "pts")
	if out := mustRun(t, "", "online", "-f", spec, "--dry-run"); !strings.Contains(out, "streaming_kmeans (k=2) on topic pts in group online-pts, published as model pts") {
		t.Fatalf("dry run: %q", out)
	}

	cmd := exec.Command(os.Args[0], logFlag, "--store=dir:"+storeDir, "online", "-f", spec)
	cmd.Env = append(os.Environ(), "FLINT_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if st, err := local.New(storeDir); err == nil {
			if m, err := models.NewRegistry(st).Describe(context.Background(), "pts"); err == nil && len(m.Versions) >= 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no third version within a minute; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("flint online after SIGINT: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "online: published") {
		t.Errorf("stderr lacks the published lines:\n%s", stderr.String())
	}
	groups := mustRun(t, "", logFlag, "log", "groups", "online-pts", "--topic", "pts")
	if !strings.Contains(groups, "LAG") {
		t.Errorf("log groups online-pts:\n%s", groups)
	}
}

func TestOnlineBadSpec(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(spec, []byte(strings.Replace(onlineSpec, "{k: 2}", "{k: 0}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "", "online", "-f", spec)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:9:25: algorithm.streaming_kmeans.k: want at least 1 cluster, got 0") {
		t.Fatalf("flint online on a bad spec: %v", err)
	}
}
