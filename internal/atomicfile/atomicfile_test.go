package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A committed file replaces the older one, mode 0644, with nothing left
// beside it; an aborted one leaves the older file as it was and no partial
// file; a path that is a directory, or in a directory that does not exist,
// is refused with an error naming it.
func TestCommitAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entries := func() []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}

	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half")
	f.Abort()
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("after Abort the file holds %q, want the older one", b)
	}
	if names := entries(); len(names) != 1 {
		t.Errorf("after Abort the directory holds %v, want only the older file", names)
	}

	f, err = Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new\n")
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("before Commit the file holds %q, want the older one", b)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("after Commit the file holds %q", b)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("after Commit: %v, mode %v, want 0644", err, fi.Mode().Perm())
	}
	if names := entries(); len(names) != 1 {
		t.Errorf("after Commit the directory holds %v", names)
	}

	if _, err := Create(dir); err == nil || !strings.Contains(err.Error(), dir+" is a directory") {
		t.Errorf("a directory: %v", err)
	}
	missing := filepath.Join(dir, "nosuch", "out.jsonl")
	if _, err := Create(missing); err == nil || !strings.Contains(err.Error(), "cannot create a file in "+filepath.Join(dir, "nosuch")) {
		t.Errorf("a missing directory: %v", err)
	}
}
