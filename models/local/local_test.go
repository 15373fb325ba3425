package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/models/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) models.Store { return mustNew(t, t.TempDir()) })
}

func mustNew(t *testing.T, dir string) *local.Store {
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSweepRemovesOldTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s := mustNew(t, dir)
	ctx := context.Background()
	if _, err := s.PutIf(ctx, "manifests/m.json", []byte("{}"), ""); err != nil {
		t.Fatal(err)
	}
	// Debris a killed writer would leave: a temporary file beside its key.
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "blobs", "m", ".tmp-123")
	young := filepath.Join(dir, "blobs", "m", ".tmp-456")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if es, _ := s.List(ctx, ""); len(es) != 1 {
		t.Fatalf("List shows %v; temporary and lock files must not show", es)
	}
	if n, err := s.Sweep(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("Sweep(1h) = %d, %v; want the old file removed", n, err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatalf("Sweep(1h) removed the young file: %v", err)
	}
	if n, err := s.Sweep(ctx, 0); err != nil || n != 1 {
		t.Fatalf("Sweep(0) = %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifests", ".m.json.lock")); err != nil {
		t.Fatalf("Sweep removed a lock file: %v", err)
	}
}

// TestKeysStayInside: no key reaches outside the directory, even when the
// store's directory is reached through a symbolic link.
func TestKeysStayInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "store")
	s := mustNew(t, dir)
	for _, key := range []string{"../outside", "a/../../outside", "/etc/passwd", "..", "a/..", `..\outside`} {
		if err := s.Put(context.Background(), key, nil, 0); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("files appeared next to the store: %v", entries)
	}
}
