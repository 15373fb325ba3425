package local_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// Deleting the last object of a directory removes the directories left
// empty, up to the root and no further.
func TestDeleteRemovesEmptyDirectories(t *testing.T) {
	dir := t.TempDir()
	s := mustNew(t, dir)
	ctx := context.Background()
	for _, k := range []string{"jobs/1/checkpoint/state", "jobs/1/checkpoint/job.json", "jobs/1.json"} {
		if err := s.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
		return err == nil
	}
	if err := s.Delete(ctx, "jobs/1/checkpoint/state"); err != nil {
		t.Fatal(err)
	}
	if !exists("jobs/1/checkpoint") {
		t.Fatal("a directory that still holds an object was removed")
	}
	if err := s.Delete(ctx, "jobs/1/checkpoint/job.json"); err != nil {
		t.Fatal(err)
	}
	if exists("jobs/1") || !exists("jobs/1.json") {
		t.Fatal("want jobs/1/ removed with its last object, and jobs/1.json kept")
	}
	if err := s.Delete(ctx, "jobs/1.json"); err != nil {
		t.Fatal(err)
	}
	if exists("jobs") || !exists("") {
		t.Fatal("want jobs/ removed and the root kept")
	}
	if err := s.Put(ctx, "jobs/2/checkpoint/state", strings.NewReader("y"), 1); err != nil {
		t.Fatalf("put after the directories were removed: %v", err)
	}
}

// Puts into a directory that concurrent deletes keep emptying all succeed.
func TestPutRacesDeleteOfEmptyDirectory(t *testing.T) {
	s := mustNew(t, t.TempDir())
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := fmt.Sprintf("a/b/k%d-%d", g, i)
				if err := s.Put(ctx, k, strings.NewReader("v"), 1); err != nil {
					errs <- err
				}
				if err := s.Delete(ctx, k); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
