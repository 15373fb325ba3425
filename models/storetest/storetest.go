// Package storetest is the conformance suite for implementations of
// models.Store. models/local runs it on a temporary directory and models/s3
// on a real MinIO server, so both backends are held to one behaviour:
// whole-object reads and writes, failed writes that leave nothing behind,
// prefix listing in key order, idempotent deletes, key validation, errors
// that wrap models.ErrNotFound and models.ErrConflict, and a
// compare-and-swap (Load + PutIf) that loses no update under concurrency.
//
// A backend's test calls Run with a constructor that returns an empty store
// of the test's own:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) models.Store { return mustNew(t, t.TempDir()) })
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/models"
)

// Run runs the whole suite as subtests of t. newStore must return an empty
// store that no other test uses.
func Run(t *testing.T, newStore func(t *testing.T) models.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, models.Store)
	}{
		{"PutGet", testPutGet},
		{"PutReplaces", testPutReplaces},
		{"GetMissing", testGetMissing},
		{"FailedPutLeavesNothing", testFailedPut},
		{"CanceledPut", testCanceledPut},
		{"List", testList},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"LoadPutIf", testLoadPutIf},
		{"PutIfConcurrent", testPutIfConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, s models.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctx(t), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

func get(t *testing.T, s models.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return b
}

func wantNotFound(t *testing.T, s models.Store, key string) {
	t.Helper()
	rc, err := s.Get(ctx(t), key)
	if err == nil {
		rc.Close()
		t.Fatalf("Get(%q) succeeded, want models.ErrNotFound", key)
	}
	if !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("Get(%q) = %v, want models.ErrNotFound", key, err)
	}
}

func keys(es []models.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func testPutGet(t *testing.T, s models.Store) {
	// 17 MiB goes past S3 multipart's 16 MiB part size.
	for i, n := range []int{0, 1, 1000, 1 << 20, 17 << 20} {
		key := fmt.Sprintf("blobs/size-%d", n)
		want := payload(n, uint64(i))
		put(t, s, key, want)
		if got := get(t, s, key); !bytes.Equal(got, want) {
			t.Fatalf("Get(%q): %d bytes differ from the %d put", key, len(got), len(want))
		}
	}
	es, err := s.List(ctx(t), "blobs/size-1000")
	if err != nil || len(es) != 1 || es[0].Size != 1000 {
		t.Fatalf("List(blobs/size-1000) = %+v, %v; want one entry of 1000 bytes", es, err)
	}
	if age := time.Since(es[0].Modified); age < -time.Minute || age > time.Hour {
		t.Errorf("List: Modified %v is not about now", es[0].Modified)
	}
}

func testPutReplaces(t *testing.T, s models.Store) {
	put(t, s, "a/b", []byte("one"))
	put(t, s, "a/b", []byte("second version"))
	if got := get(t, s, "a/b"); string(got) != "second version" {
		t.Fatalf("Get after replace = %q", got)
	}
}

func testGetMissing(t *testing.T, s models.Store) {
	wantNotFound(t, s, "no/such/key")
	put(t, s, "dir/file", []byte("x"))
	wantNotFound(t, s, "dir/fil")
	wantNotFound(t, s, "dir/file/below")
	if _, _, err := s.Load(ctx(t), "no/such/key"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("Load(missing) = %v, want models.ErrNotFound", err)
	}
}

// failingReader gives n bytes, then fails.
type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func testFailedPut(t *testing.T, s models.Store) {
	boom := errors.New("reader broke")
	for _, n := range []int{1 << 20, 20 << 20} {
		data := payload(n, 7)
		key := fmt.Sprintf("fail/%d", n)
		// A reader that fails halfway: no object.
		err := s.Put(ctx(t), key, &failingReader{r: bytes.NewReader(data), n: n / 2, err: boom}, int64(n))
		if err == nil {
			t.Fatalf("Put with a reader failing at %d of %d bytes succeeded", n/2, n)
		}
		wantNotFound(t, s, key)
		// A reader shorter than the size given: no object.
		if err := s.Put(ctx(t), key, bytes.NewReader(data[:n/2]), int64(n)); err == nil {
			t.Fatalf("Put of %d bytes from a %d-byte reader succeeded", n, n/2)
		}
		wantNotFound(t, s, key)
		// A failed replacement leaves the old object.
		put(t, s, key, []byte("old"))
		if err := s.Put(ctx(t), key, &failingReader{r: bytes.NewReader(data), n: n / 2, err: boom}, int64(n)); err == nil {
			t.Fatal("failing replacement succeeded")
		}
		if got := get(t, s, key); string(got) != "old" {
			t.Fatalf("after a failed replacement Get = %d bytes, want the old object", len(got))
		}
	}
	es, err := s.List(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(es); !slices.Equal(got, []string{"fail/1048576", "fail/20971520"}) {
		t.Fatalf("List after failed puts = %q: debris is visible", got)
	}
}

func testCanceledPut(t *testing.T, s models.Store) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(c, "canceled", bytes.NewReader([]byte("x")), 1); err == nil {
		t.Fatal("Put with a canceled context succeeded")
	}
	wantNotFound(t, s, "canceled")
}

func testList(t *testing.T, s models.Store) {
	all := []string{"a", "ab", "b/c/d", "b/c/e", "b/cd", "b/x", "blob", "z9"}
	for i := len(all) - 1; i >= 0; i-- { // put out of order
		put(t, s, all[i], []byte(all[i]))
	}
	cases := map[string][]string{
		"":       all,
		"a":      {"a", "ab"},
		"b":      {"b/c/d", "b/c/e", "b/cd", "b/x", "blob"},
		"b/":     {"b/c/d", "b/c/e", "b/cd", "b/x"},
		"b/c":    {"b/c/d", "b/c/e", "b/cd"},
		"b/c/":   {"b/c/d", "b/c/e"},
		"b/c/d":  {"b/c/d"},
		"nope":   nil,
		"nope/x": nil,
		"b/c/d/": nil,
	}
	for prefix, want := range cases {
		es, err := s.List(ctx(t), prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		if got := keys(es); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
		for _, e := range es {
			if e.Size != int64(len(e.Key)) {
				t.Errorf("List(%q): %s has size %d, want %d", prefix, e.Key, e.Size, len(e.Key))
			}
		}
	}
}

func testDelete(t *testing.T, s models.Store) {
	put(t, s, "d/one", []byte("1"))
	put(t, s, "d/two", []byte("2"))
	if err := s.Delete(ctx(t), "d/one"); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, "d/one")
	if got := get(t, s, "d/two"); string(got) != "2" {
		t.Fatalf("the other object changed: %q", got)
	}
	if err := s.Delete(ctx(t), "d/one"); err != nil {
		t.Fatalf("deleting a missing key: %v, want nil", err)
	}
	if err := s.Delete(ctx(t), "never/was"); err != nil {
		t.Fatalf("deleting a missing key: %v, want nil", err)
	}
	es, err := s.List(ctx(t), "d/")
	if err != nil || !slices.Equal(keys(es), []string{"d/two"}) {
		t.Fatalf("List after delete = %v, %v", keys(es), err)
	}
}

func testInvalidKeys(t *testing.T, s models.Store) {
	bad := []string{"", "/", "/abs", "a/", "a//b", "..", "../x", "a/../b", "a/..", "x..y", ".hidden", "a/.tmp-1",
		"-dash", "a/_b", "a\\b", "a b", "a\x00b", "é", strings.Repeat("k", models.MaxKeyComponentLen+1),
		strings.Repeat(strings.Repeat("k", 99)+"/", models.MaxKeyLen/100+1) + "12345"}
	for _, key := range bad {
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, models.ErrInvalidKey) {
				t.Errorf("%s(%q) = %v, want models.ErrInvalidKey", op, key, err)
			} else if key != "" && !strings.Contains(err.Error(), strconv.Quote(key)) {
				t.Errorf("%s(%q): error %q does not name the key", op, key, err)
			}
		}
		check("Put", s.Put(ctx(t), key, bytes.NewReader([]byte("x")), 1))
		_, err := s.Get(ctx(t), key)
		check("Get", err)
		check("Delete", s.Delete(ctx(t), key))
		_, _, err = s.Load(ctx(t), key)
		check("Load", err)
		_, err = s.PutIf(ctx(t), key, []byte("x"), "")
		check("PutIf", err)
	}
	es, err := s.List(ctx(t), "")
	if err != nil || len(es) != 0 {
		t.Fatalf("List after rejected writes = %v, %v; want nothing", keys(es), err)
	}
	// The longest key, of the longest components.
	c := strings.Repeat("k", models.MaxKeyComponentLen)
	long := strings.Repeat(c+"/", models.MaxKeyLen/(len(c)+1)) + strings.Repeat("z", models.MaxKeyLen%(len(c)+1))
	if len(long) != models.MaxKeyLen {
		t.Fatalf("test bug: long key has %d bytes", len(long))
	}
	put(t, s, long, []byte("longest key"))
	if got := get(t, s, long); string(got) != "longest key" {
		t.Fatalf("longest key: got %q", got)
	}
}

func testLoadPutIf(t *testing.T, s models.Store) {
	const key = "manifests/m.json"
	tag1, err := s.PutIf(ctx(t), key, []byte("v1"), "")
	if err != nil || tag1 == "" {
		t.Fatalf("PutIf(create) = %q, %v", tag1, err)
	}
	if _, err := s.PutIf(ctx(t), key, []byte("again"), ""); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("PutIf(create) of an existing key = %v, want models.ErrConflict", err)
	}
	data, tag, err := s.Load(ctx(t), key)
	if err != nil || string(data) != "v1" || tag != tag1 {
		t.Fatalf("Load = %q, %q, %v; want \"v1\", %q", data, tag, err, tag1)
	}
	tag2, err := s.PutIf(ctx(t), key, []byte("v2"), tag1)
	if err != nil || tag2 == tag1 || tag2 == "" {
		t.Fatalf("PutIf(v2, tag1) = %q, %v; want a new tag", tag2, err)
	}
	if _, err := s.PutIf(ctx(t), key, []byte("stale"), tag1); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("PutIf with a stale tag = %v, want models.ErrConflict", err)
	}
	if data, tag, _ := s.Load(ctx(t), key); string(data) != "v2" || tag != tag2 {
		t.Fatalf("after a refused PutIf Load = %q, %q; want \"v2\", %q", data, tag, tag2)
	}
	// Plain Put also changes the tag.
	put(t, s, key, []byte("v3"))
	if _, tag3, _ := s.Load(ctx(t), key); tag3 == tag2 {
		t.Fatal("Put did not change the tag")
	}
	if _, err := s.PutIf(ctx(t), key, []byte("v4"), tag2); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("PutIf with the tag from before a Put = %v, want models.ErrConflict", err)
	}
	if _, err := s.PutIf(ctx(t), "manifests/missing.json", []byte("x"), tag1); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("PutIf(missing key, some tag) = %v, want models.ErrConflict", err)
	}
	wantNotFound(t, s, "manifests/missing.json")
	if err := s.Delete(ctx(t), key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutIf(ctx(t), key, []byte("reborn"), ""); err != nil {
		t.Fatalf("PutIf(create) after Delete: %v", err)
	}
	es, err := s.List(ctx(t), "manifests/")
	if err != nil || !slices.Equal(keys(es), []string{key}) {
		t.Fatalf("List(manifests/) = %q, %v; lock or temporary files must not show", keys(es), err)
	}
}

// testPutIfConcurrent increments a counter from several goroutines with
// Load + PutIf, retrying on conflict; every increment must count.
func testPutIfConcurrent(t *testing.T, s models.Store) {
	const key, workers, each = "counter", 8, 10
	if _, err := s.PutIf(ctx(t), key, []byte("0"), ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				data, tag, err := s.Load(ctx(t), key)
				if err != nil {
					errs <- err
					return
				}
				n, _ := strconv.Atoi(string(data))
				_, err = s.PutIf(ctx(t), key, []byte(strconv.Itoa(n+1)), tag)
				switch {
				case errors.Is(err, models.ErrConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
					time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				case err != nil:
					errs <- err
					return
				default:
					i++
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, _, err := s.Load(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s after %d increments (%d conflicts retried): updates were lost", data, workers*each, conflicts)
	}
	t.Logf("%d increments, %d conflicts retried", workers*each, conflicts)
}
