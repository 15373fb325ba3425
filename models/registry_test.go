package models_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/models/s3"
	"github.com/flintml/flint/models/s3/s3test"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// A backend gives a test storage of its own; the function it returns opens
// another client on the same storage, as another process would.
type backend struct {
	name string
	new  func(t *testing.T) (open func() models.Store)
}

var backends = []backend{
	{"local", func(t *testing.T) func() models.Store {
		dir := t.TempDir()
		return func() models.Store {
			s, err := local.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}},
	{"s3", func(t *testing.T) func() models.Store {
		srv := s3test.Shared(t)
		bucket := srv.NewBucket(t)
		return func() models.Store {
			s, err := s3.New(context.Background(), srv.Config(bucket))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}},
}

// eachBackend runs fn once per backend, as parallel subtests.
func eachBackend(t *testing.T, fn func(t *testing.T, open func() models.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.new(t))
		})
	}
}

func ctxT(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// art returns a small artefact that says which publish it came from.
func art(i int) *models.Artifact {
	return &models.Artifact{
		Algorithm: "logreg",
		Params:    []byte("params-" + strconv.Itoa(i)),
		Metrics:   map[string]float64{"i": float64(i)},
		Spec:      "run: " + strconv.Itoa(i),
	}
}

func publish(t testing.TB, r *models.Registry, name string, a *models.Artifact) int {
	t.Helper()
	v, err := r.Publish(ctxT(t), name, a)
	if err != nil {
		t.Fatalf("Publish(%s): %v", name, err)
	}
	return v
}

func describe(t testing.TB, r *models.Registry, name string) *models.Manifest {
	t.Helper()
	m, err := r.Describe(ctxT(t), name)
	if err != nil {
		t.Fatalf("Describe(%s): %v", name, err)
	}
	return m
}

func versions(m *models.Manifest) []int {
	var vs []int
	for _, v := range m.Versions {
		vs = append(vs, v.Version)
	}
	return vs
}

// wantParams checks which publish an artefact came from.
func wantParams(t testing.TB, a *models.Artifact, i int) {
	t.Helper()
	if want := "params-" + strconv.Itoa(i); string(a.Params) != want {
		t.Fatalf("got artifact %q, want %q", a.Params, want)
	}
}

func TestPublishGetDescribe(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		r := models.NewRegistry(open())
		before := time.Now()
		for i := 1; i <= 3; i++ {
			if v := publish(t, r, "churn", art(i)); v != i {
				t.Fatalf("publish %d got version %d", i, v)
			}
		}
		publish(t, r, "fraud", art(100))
		for i := 1; i <= 3; i++ {
			a, info, err := r.Get(ctxT(t), "churn", i)
			if err != nil {
				t.Fatal(err)
			}
			wantParams(t, a, i)
			if info.Version != i || a.Created.Before(before.Add(-time.Second)) || !info.Created.Equal(a.Created) {
				t.Fatalf("version %d: info %+v, created %v", i, info, a.Created)
			}
		}
		a, info, err := r.Latest(ctxT(t), "churn")
		if err != nil || info.Version != 3 {
			t.Fatalf("Latest = v%d, %v", info.Version, err)
		}
		wantParams(t, a, 3)

		m := describe(t, r, "churn")
		if !slices.Equal(versions(m), []int{1, 2, 3}) || m.Next != 4 || m.Revision != 3 || m.Tag == "" {
			t.Fatalf("Describe = versions %v next %d revision %d tag %q", versions(m), m.Next, m.Revision, m.Tag)
		}
		v2, _ := m.Version(2)
		if v2.Metrics["i"] != 2 || v2.Size <= 0 || v2.Algorithm != "logreg" || len(v2.SHA256) != 64 || v2.Published.IsZero() {
			t.Fatalf("Describe v2 = %+v", v2)
		}
		names, err := r.List(ctxT(t))
		if err != nil || !slices.Equal(names, []string{"churn", "fraud"}) {
			t.Fatalf("List = %v, %v", names, err)
		}

		for _, err := range []error{
			func() error { _, err := r.Describe(ctxT(t), "nope"); return err }(),
			func() error { _, _, err := r.Get(ctxT(t), "nope", 1); return err }(),
			func() error { _, _, err := r.Get(ctxT(t), "churn", 4); return err }(),
			func() error { _, _, err := r.Latest(ctxT(t), "nope"); return err }(),
			func() error { _, _, err := r.GetAlias(ctxT(t), "churn", "production"); return err }(),
		} {
			if !errors.Is(err, models.ErrNotFound) {
				t.Errorf("got %v, want models.ErrNotFound", err)
			}
		}
		// Publish does not modify the caller's artefact.
		a0 := art(9)
		publish(t, r, "churn", a0)
		if !a0.Created.IsZero() {
			t.Error("Publish set Created on the caller's artifact")
		}
	})
}

func TestVersionsNeverReused(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		r := models.NewRegistry(open())
		for i := 1; i <= 3; i++ {
			publish(t, r, "m", art(i))
		}
		if err := r.DeleteVersion(ctxT(t), "m", 3); err != nil {
			t.Fatal(err)
		}
		if v := publish(t, r, "m", art(4)); v != 4 {
			t.Fatalf("publish after deleting v3 got v%d, want 4", v)
		}
		if err := r.DeleteModel(ctxT(t), "m"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Describe(ctxT(t), "m"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("Describe after DeleteModel = %v, want ErrNotFound", err)
		}
		if names, _ := r.List(ctxT(t)); len(names) != 0 {
			t.Fatalf("List after DeleteModel = %v", names)
		}
		if err := r.DeleteModel(ctxT(t), "m"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("second DeleteModel = %v, want ErrNotFound", err)
		}
		if v := publish(t, r, "m", art(5)); v != 5 {
			t.Fatalf("publish after DeleteModel got v%d, want 5", v)
		}
		m := describe(t, r, "m")
		if !slices.Equal(versions(m), []int{5}) || len(m.Aliases) != 0 {
			t.Fatalf("after re-publish: versions %v aliases %v", versions(m), m.Aliases)
		}
		// DeleteModel removed the old blobs.
		es, err := open().List(ctxT(t), "blobs/m/")
		if err != nil || len(es) != 1 {
			t.Fatalf("blobs after DeleteModel and one publish: %v, %v", es, err)
		}
	})
}

func TestAliases(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		r := models.NewRegistry(open())
		for i := 1; i <= 3; i++ {
			publish(t, r, "m", art(i))
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(r.SetAlias(ctxT(t), "m", "production", 1))
		must(r.SetAlias(ctxT(t), "m", "staging", 2))
		rev := describe(t, r, "m").Revision
		must(r.SetAlias(ctxT(t), "m", "staging", 2)) // no change, no new revision
		if got := describe(t, r, "m").Revision; got != rev {
			t.Errorf("setting an alias to its version changed the revision %d -> %d", rev, got)
		}
		a, info, err := r.GetAlias(ctxT(t), "m", "production")
		must(err)
		wantParams(t, a, 1)
		if info.Version != 1 {
			t.Fatalf("production -> v%d", info.Version)
		}
		// Promote staging's version to production.
		must(r.SetAlias(ctxT(t), "m", "production", 2))
		a, _, err = r.GetAlias(ctxT(t), "m", "production")
		must(err)
		wantParams(t, a, 2)
		m := describe(t, r, "m")
		if !slices.Equal(m.AliasesOf(2), []string{"production", "staging"}) || len(m.AliasesOf(1)) != 0 {
			t.Fatalf("aliases = %v", m.Aliases)
		}
		a, info, err = r.GetAlias(ctxT(t), "m", models.LatestAlias)
		must(err)
		if info.Version != 3 {
			t.Fatalf("latest -> v%d", info.Version)
		}
		wantParams(t, a, 3)

		must(r.RemoveAlias(ctxT(t), "m", "staging"))
		if _, _, err := r.GetAlias(ctxT(t), "m", "staging"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("GetAlias(removed) = %v", err)
		}
		if err := r.RemoveAlias(ctxT(t), "m", "staging"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("RemoveAlias(removed) = %v", err)
		}
		if err := r.SetAlias(ctxT(t), "m", "production", 7); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("SetAlias to a missing version = %v", err)
		}
		if err := r.SetAlias(ctxT(t), "nope", "production", 1); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("SetAlias on a missing model = %v", err)
		}
		for _, bad := range []string{"latest", "3", "", "../x", "a/b"} {
			if err := r.SetAlias(ctxT(t), "m", bad, 1); !errors.Is(err, models.ErrInvalidName) {
				t.Errorf("SetAlias(%q) = %v, want ErrInvalidName", bad, err)
			}
		}
	})
}

func TestDeleteRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		r := models.NewRegistry(open())
		for i := 1; i <= 2; i++ {
			publish(t, r, "m", art(i))
		}
		if err := r.SetAlias(ctxT(t), "m", "production", 1); err != nil {
			t.Fatal(err)
		}
		err := r.DeleteVersion(ctxT(t), "m", 1)
		if !errors.Is(err, models.ErrInUse) || !strings.Contains(err.Error(), "production") {
			t.Fatalf("deleting an aliased version = %v, want ErrInUse naming the alias", err)
		}
		if _, _, err := r.Get(ctxT(t), "m", 1); err != nil {
			t.Fatalf("refused delete removed the version: %v", err)
		}
		if err := r.DeleteVersion(ctxT(t), "m", 9); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("deleting a missing version = %v, want ErrNotFound", err)
		}
		if err := r.RemoveAlias(ctxT(t), "m", "production"); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteVersion(ctxT(t), "m", 1); err != nil {
			t.Fatalf("delete after removing the alias: %v", err)
		}
		if _, _, err := r.Get(ctxT(t), "m", 1); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("Get(deleted) = %v", err)
		}
		if err := r.DeleteVersion(ctxT(t), "m", 2); err != nil {
			t.Fatal(err)
		}
		// A model with no versions still exists (and keeps its numbering).
		m := describe(t, r, "m")
		if len(m.Versions) != 0 || m.Next != 3 {
			t.Fatalf("after deleting every version: %v next %d", versions(m), m.Next)
		}
		if _, _, err := r.Latest(ctxT(t), "m"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("Latest with no versions = %v", err)
		}
		// DeleteModel takes aliased versions with it.
		publish(t, r, "m", art(3))
		if err := r.SetAlias(ctxT(t), "m", "production", 3); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteModel(ctxT(t), "m"); err != nil {
			t.Fatal(err)
		}
		es, err := open().List(ctxT(t), "blobs/")
		if err != nil || len(es) != 0 {
			t.Fatalf("blobs left after deleting everything: %v, %v", es, err)
		}
	})
}

func TestNameValidation(t *testing.T) {
	r := models.NewRegistry(mustLocal(t))
	bad := []string{"", ".", "..", "../x", "a/../b", "a/b", "/abs", `a\b`, ".hidden", "-x", "_x", "a..b", "a b",
		"a\x00", "é", "x/", strings.Repeat("n", models.MaxNameLen+1)}
	for _, name := range bad {
		ops := map[string]error{
			"Publish":       func() error { _, err := r.Publish(ctxT(t), name, art(1)); return err }(),
			"Get":           func() error { _, _, err := r.Get(ctxT(t), name, 1); return err }(),
			"GetAlias":      func() error { _, _, err := r.GetAlias(ctxT(t), name, "production"); return err }(),
			"Latest":        func() error { _, _, err := r.Latest(ctxT(t), name); return err }(),
			"Describe":      func() error { _, err := r.Describe(ctxT(t), name); return err }(),
			"SetAlias":      r.SetAlias(ctxT(t), name, "production", 1),
			"RemoveAlias":   r.RemoveAlias(ctxT(t), name, "production"),
			"DeleteVersion": r.DeleteVersion(ctxT(t), name, 1),
			"DeleteModel":   r.DeleteModel(ctxT(t), name),
		}
		for op, err := range ops {
			var ne *models.NameError
			if !errors.Is(err, models.ErrInvalidName) || !errors.As(err, &ne) || ne.Value != name {
				t.Errorf("%s(%q) = %v, want a *NameError for it", op, name, err)
			} else if !strings.Contains(err.Error(), strconv.Quote(name)) {
				t.Errorf("%s(%q): error %q does not quote the name", op, name, err)
			}
		}
	}
	for _, name := range []string{"a", "0", "Churn.v2_final-1", strings.Repeat("n", models.MaxNameLen)} {
		if err := models.CheckName(name); err != nil {
			t.Errorf("CheckName(%q) = %v", name, err)
		}
		if _, err := r.Publish(ctxT(t), name, art(1)); err != nil {
			t.Errorf("Publish(%q): %v", name, err)
		}
	}
	for _, alias := range []string{"", "1", "007", "latest", "../x", "a/b", ".", "x y", strings.Repeat("a", 129)} {
		if err := models.CheckAlias(alias); !errors.Is(err, models.ErrInvalidName) || !strings.Contains(err.Error(), strconv.Quote(alias)) {
			t.Errorf("CheckAlias(%q) = %v", alias, err)
		}
		if _, _, err := r.GetAlias(ctxT(t), "a", alias); alias != "latest" && !errors.Is(err, models.ErrInvalidName) {
			t.Errorf("GetAlias(%q) = %v", alias, err)
		}
	}
	for _, alias := range []string{"production", "staging", "v2", "canary-1", "A.b"} {
		if err := models.CheckAlias(alias); err != nil {
			t.Errorf("CheckAlias(%q) = %v", alias, err)
		}
	}
}

func mustLocal(t *testing.T) *local.Store {
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConcurrentPublishers races several publishers, each with a Registry
// and store client of its own as separate processes would have, on one
// model. Every publish must get a distinct version and none may be lost.
func TestConcurrentPublishers(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		const publishers, each = 6, 5
		var wg sync.WaitGroup
		got := make([][]int, publishers)
		errs := make([]error, publishers)
		for p := range publishers {
			r := models.NewRegistry(open())
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					v, err := r.Publish(ctxT(t), "shared", art(p*100+i))
					if err != nil {
						errs[p] = err
						return
					}
					got[p] = append(got[p], v)
				}
			}()
		}
		// Alias moves race with the publishes too.
		r := models.NewRegistry(open())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				m, err := r.Describe(ctxT(t), "shared")
				if err != nil {
					continue // not created yet
				}
				if v, ok := m.Latest(); ok {
					if err := r.SetAlias(ctxT(t), "shared", "production", v.Version); err != nil {
						t.Errorf("SetAlias: %v", err)
					}
				}
			}
		}()
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		var all []int
		for p, vs := range got {
			if !slices.IsSorted(vs) {
				t.Errorf("publisher %d got versions %v out of order", p, vs)
			}
			all = append(all, vs...)
		}
		slices.Sort(all)
		want := make([]int, publishers*each)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(all, want) {
			t.Fatalf("versions handed out = %v, want 1..%d once each", all, len(want))
		}
		m := describe(t, r, "shared")
		if !slices.Equal(versions(m), want) || m.Next != len(want)+1 {
			t.Fatalf("manifest lists %v next %d: a publish was lost", versions(m), m.Next)
		}
		// Each version holds the artefact its publisher sent.
		for p, vs := range got {
			for i, v := range vs {
				a, _, err := r.Get(ctxT(t), "shared", v)
				if err != nil {
					t.Fatal(err)
				}
				wantParams(t, a, p*100+i)
			}
		}
	})
}

// corrupt rewrites the blob of version v with edit applied.
func corrupt(t *testing.T, s models.Store, r *models.Registry, name string, v int, edit func([]byte) []byte) {
	t.Helper()
	info, _ := describe(t, r, name).Version(v)
	rc, err := s.Get(ctxT(t), info.Blob)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	b = edit(b)
	if err := s.Put(ctxT(t), info.Blob, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptArtifact(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		s := open()
		r := models.NewRegistry(s)
		for i := 1; i <= 4; i++ {
			publish(t, r, "m", art(i))
		}
		// A flipped byte fails the checksum.
		corrupt(t, s, r, "m", 1, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
		_, _, err := r.Get(ctxT(t), "m", 1)
		var fe *models.FormatError
		if !errors.Is(err, models.ErrChecksum) || !errors.As(err, &fe) {
			t.Fatalf("Get(corrupted) = %v, want a *FormatError wrapping ErrChecksum", err)
		}
		if msg := err.Error(); !strings.Contains(msg, `get m version 1`) || !strings.Contains(msg, "blobs/m/") {
			t.Errorf("error %q does not name the model, version and blob", msg)
		}
		// An artefact from a future Flint is a clear error.
		corrupt(t, s, r, "m", 2, func(b []byte) []byte { b[8] = 9; return b })
		if _, _, err := r.Get(ctxT(t), "m", 2); !errors.Is(err, models.ErrUnknownVersion) || !strings.Contains(err.Error(), "format version 9") {
			t.Fatalf("Get(format 9) = %v, want ErrUnknownVersion", err)
		}
		// A truncated blob.
		corrupt(t, s, r, "m", 3, func(b []byte) []byte { return b[:len(b)-10] })
		if _, _, err := r.Get(ctxT(t), "m", 3); !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &fe) {
			t.Fatalf("Get(truncated) = %v, want a *FormatError wrapping io.ErrUnexpectedEOF", err)
		}
		// A valid artefact that is not the one published (a swapped blob).
		corrupt(t, s, r, "m", 4, func([]byte) []byte { return encode(t, art(9)) }) // same length
		if _, _, err := r.Get(ctxT(t), "m", 4); !errors.Is(err, models.ErrChecksum) || !strings.Contains(err.Error(), "manifest") {
			t.Fatalf("Get(swapped blob) = %v, want ErrChecksum against the manifest", err)
		}
	})
}

// faultStore wraps a Store to fail in chosen places.
type faultStore struct {
	models.Store
	wrapPut func(key string, r io.Reader) io.Reader // for blob uploads
	putIf   func(key string) error                  // fails manifest swaps
}

func (f *faultStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if f.wrapPut != nil {
		r = f.wrapPut(key, r)
	}
	return f.Store.Put(ctx, key, r, size)
}

func (f *faultStore) PutIf(ctx context.Context, key string, data []byte, tag string) (string, error) {
	if f.putIf != nil {
		if err := f.putIf(key); err != nil {
			return "", err
		}
	}
	return f.Store.PutIf(ctx, key, data, tag)
}

// halfReader fails after half of size bytes.
type halfReader struct {
	r    io.Reader
	left int64
}

func (h *halfReader) Read(p []byte) (int, error) {
	if h.left <= 0 {
		return 0, errors.New("simulated crash: reader failed halfway")
	}
	p = p[:min(int64(len(p)), h.left)]
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}

// checkOnly checks that exactly the versions want are visible and that the
// latest one reads back intact.
func checkOnly(t *testing.T, r *models.Registry, name string, want ...int) {
	t.Helper()
	m := describe(t, r, name)
	if !slices.Equal(versions(m), want) {
		t.Fatalf("visible versions %v, want %v", versions(m), want)
	}
	a, info, err := r.Latest(ctxT(t), name)
	if err != nil {
		t.Fatalf("Latest after the failure: %v", err)
	}
	if info.Version != want[len(want)-1] {
		t.Fatalf("Latest = v%d, want v%d", info.Version, want[len(want)-1])
	}
	wantParams(t, a, info.Version)
}

func TestFailedPublishLeavesNoVersion(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		fs := &faultStore{Store: open()}
		r := models.NewRegistry(fs)
		publish(t, r, "m", art(1))
		publish(t, r, "m", art(2))
		if err := r.SetAlias(ctxT(t), "m", "production", 2); err != nil {
			t.Fatal(err)
		}
		big := art(3)
		big.Params = bytes.Repeat([]byte("p"), 20<<20) // multipart on S3

		// The upload dies halfway.
		fs.wrapPut = func(_ string, r io.Reader) io.Reader { return &halfReader{r: r, left: 10 << 20} }
		_, err := r.Publish(ctxT(t), "m", big)
		if err == nil || !strings.Contains(err.Error(), "publish m: upload blobs/m/") {
			t.Fatalf("Publish with a failing upload = %v, want an error naming the upload", err)
		}
		fs.wrapPut = nil
		checkOnly(t, r, "m", 1, 2)
		if es, _ := fs.List(ctxT(t), "blobs/"); len(es) != 2 {
			t.Fatalf("blobs after a failed upload: %d, want 2", len(es))
		}

		// The upload completes, but the process dies before the manifest swap.
		fs.putIf = func(string) error { return errors.New("simulated crash before the manifest swap") }
		if _, err := r.Publish(ctxT(t), "m", art(3)); err == nil || !strings.Contains(err.Error(), "left for GC") {
			t.Fatalf("Publish with a failing swap = %v", err)
		}
		fs.putIf = nil
		checkOnly(t, r, "m", 1, 2)
		if _, _, err := r.GetAlias(ctxT(t), "m", "production"); err != nil {
			t.Fatal(err)
		}
		// The orphan blob is there, unreferenced; a young orphan survives GC
		// with a minimum age, and goes with minimum age 0.
		if es, _ := fs.List(ctxT(t), "blobs/"); len(es) != 3 {
			t.Fatalf("blobs after a failed swap: %d, want 3 (2 + the orphan)", len(es))
		}
		if st, err := r.GC(ctxT(t), time.Hour); err != nil || st.Orphans != 0 {
			t.Fatalf("GC(1h) = %+v, %v; want nothing removed", st, err)
		}
		if st, err := r.GC(ctxT(t), 0); err != nil || st.Orphans != 1 {
			t.Fatalf("GC(0) = %+v, %v; want the orphan removed", st, err)
		}
		if es, _ := fs.List(ctxT(t), "blobs/"); len(es) != 2 {
			t.Fatalf("blobs after GC: %d, want 2", len(es))
		}
		checkOnly(t, r, "m", 1, 2)
		if v := publish(t, r, "m", art(3)); v != 3 {
			t.Fatalf("next publish got v%d, want 3", v)
		}
	})
}

// lostReplyStore makes the first manifest swap land but report a failure,
// as when the server's reply is lost; the registry retries.
type lostReplyStore struct {
	models.Store
	once sync.Once
}

func (l *lostReplyStore) PutIf(ctx context.Context, key string, data []byte, tag string) (string, error) {
	newTag, err := l.Store.PutIf(ctx, key, data, tag)
	lost := false
	l.once.Do(func() { lost = err == nil })
	if lost {
		return "", fmt.Errorf("reply lost: %w", models.ErrConflict)
	}
	return newTag, err
}

func TestPublishIdempotentAfterLostReply(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		r := models.NewRegistry(&lostReplyStore{Store: open()})
		if v := publish(t, r, "m", art(1)); v != 1 {
			t.Fatalf("got v%d", v)
		}
		if m := describe(t, r, "m"); !slices.Equal(versions(m), []int{1}) {
			t.Fatalf("versions %v: the retried swap published twice", versions(m))
		}
	})
}

func TestWatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func() models.Store) {
		r := models.NewRegistry(open())
		publish(t, r, "a", art(1))
		ctx, cancel := context.WithCancel(ctxT(t))
		ch := models.NewRegistry(open()).Watch(ctx, 20*time.Millisecond)
		next := func() models.Event {
			t.Helper()
			select {
			case ev := <-ch:
				if ev.Err != nil {
					t.Fatalf("watch: %v", ev.Err)
				}
				return ev
			case <-time.After(10 * time.Second):
				t.Fatal("no event in 10s")
			}
			panic("unreachable")
		}
		if ev := next(); ev.Name != "a" || ev.Manifest == nil || ev.Manifest.Revision != 1 {
			t.Fatalf("first event = %+v, want model a at revision 1", ev)
		}
		publish(t, r, "a", art(2))
		if ev := next(); ev.Name != "a" || !slices.Equal(versions(ev.Manifest), []int{1, 2}) {
			t.Fatalf("after publish: %+v", ev)
		}
		if err := r.SetAlias(ctxT(t), "a", "production", 2); err != nil {
			t.Fatal(err)
		}
		if ev := next(); ev.Manifest.Aliases["production"] != 2 {
			t.Fatalf("after SetAlias: %+v", ev)
		}
		publish(t, r, "b", art(1))
		if ev := next(); ev.Name != "b" {
			t.Fatalf("after publishing b: %+v", ev)
		}
		if err := r.DeleteModel(ctxT(t), "a"); err != nil {
			t.Fatal(err)
		}
		if ev := next(); ev.Name != "a" || ev.Manifest != nil {
			t.Fatalf("after DeleteModel: %+v, want a with nil Manifest", ev)
		}
		cancel()
		for range ch { // the channel closes once the watcher stops
		}
	})
}
