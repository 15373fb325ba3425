package models_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/models/s3"
	"github.com/flintml/flint/models/s3/s3test"
)

// gateReader passes through the first `after` bytes, then closes reached
// and blocks until release is closed.
type gateReader struct {
	r       io.Reader
	after   int64
	reached chan struct{}
	release <-chan struct{}
	once    sync.Once
}

func (g *gateReader) Read(p []byte) (int, error) {
	if g.after <= 0 {
		g.once.Do(func() { close(g.reached) })
		<-g.release
		return g.r.Read(p)
	}
	p = p[:min(int64(len(p)), g.after)]
	n, err := g.r.Read(p)
	g.after -= int64(n)
	return n, err
}

// bigArtifact is i's artefact with n bytes of incompressible parameters.
func bigArtifact(i, n int) *models.Artifact {
	a := art(i)
	p := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(i), 2))
	for j := 0; j+8 <= n; j += 8 {
		v := r.Uint64()
		for k := range 8 {
			p[j+k] = byte(v >> (8 * k))
		}
	}
	a.Params = append([]byte("params-"+fmt.Sprint(i)), p...)
	return a
}

// wantBig checks a big artefact by its prefix and size.
func wantBig(t *testing.T, a *models.Artifact, i, n int) {
	t.Helper()
	if !bytes.HasPrefix(a.Params, []byte(fmt.Sprintf("params-%d", i))) || len(a.Params) != len(fmt.Sprint(i))+7+n {
		t.Fatalf("artifact is not big artifact %d", i)
	}
}

// TestCrashMidPublishS3 kills MinIO (SIGKILL) while a 40 MB artefact is
// being uploaded, restarts it on the same data directory, and checks that no
// partial version is visible and the previous versions are intact. Then it
// freezes MinIO (SIGSTOP) mid-upload until the publish times out.
func TestCrashMidPublishS3(t *testing.T) {
	t.Parallel()
	const size = 40 << 20
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	open := func() *s3.Store {
		c := srv.Config(bucket)
		c.MaxRetries = 1
		st, err := s3.New(ctxT(t), c)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	fs := &faultStore{Store: open()}
	r := models.NewRegistry(fs)
	publish(t, r, "m", art(1))
	publish(t, r, "m", art(2))
	if err := r.SetAlias(ctxT(t), "m", "production", 2); err != nil {
		t.Fatal(err)
	}

	// midUpload publishes a big artefact, calling during() once 24 MB of it
	// have been read (a 16 MiB part is then on the server), and returns
	// Publish's error.
	var uploading string // the key midUpload uploads to
	midUpload := func(ctx context.Context, during func()) error {
		reached, release := make(chan struct{}), make(chan struct{})
		fs.wrapPut = func(key string, r io.Reader) io.Reader {
			uploading = key
			return &gateReader{r: r, after: 24 << 20, reached: reached, release: release}
		}
		defer func() { fs.wrapPut = nil }()
		errc := make(chan error, 1)
		go func() {
			_, err := r.Publish(ctx, "m", bigArtifact(3, size))
			errc <- err
		}()
		select {
		case <-reached:
		case err := <-errc:
			t.Fatalf("Publish ended before the upload reached 24 MB: %v", err)
		}
		during()
		close(release)
		select {
		case err := <-errc:
			return err
		case <-time.After(60 * time.Second):
			t.Fatal("Publish did not return within 60s of the server's death")
		}
		return nil
	}

	start := time.Now()
	err := midUpload(ctxT(t), func() { srv.Kill(t) })
	if err == nil {
		t.Fatal("Publish succeeded although MinIO was killed mid-upload")
	}
	if !strings.Contains(err.Error(), "publish m: upload blobs/m/") {
		t.Fatalf("Publish error does not say what failed: %v", err)
	}
	t.Logf("publish failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	killedKey := uploading

	srv.Restart(t)
	// The killed upload's first part is on the server, in an incomplete
	// multipart upload that no listing of objects shows.
	n := 0
	for u := range srv.Client(t).ListIncompleteUploads(ctxT(t), bucket, killedKey, true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("found %d incomplete uploads of %s after the restart, want 1", n, killedKey)
	}
	fs.Store = open()
	r = models.NewRegistry(fs)
	checkOnly(t, r, "m", 1, 2)
	if _, info, err := r.GetAlias(ctxT(t), "m", "production"); err != nil || info.Version != 2 {
		t.Fatalf("production after the crash = v%d, %v", info.Version, err)
	}
	if es, _ := fs.List(ctxT(t), ""); len(es) != 3 {
		t.Fatalf("after the crash the bucket lists %d objects, want 3 (manifest + 2 blobs)", len(es))
	}

	// Frozen server: the publish ends with its context, 3 s after the
	// server froze (timed from the freeze, not from the start, so a slow
	// machine still reaches the middle of the upload first); nothing
	// becomes visible, not even after the server wakes up.
	ctx, cancel := context.WithCancelCause(ctxT(t))
	err = midUpload(ctx, func() {
		srv.Pause(t)
		time.AfterFunc(3*time.Second, func() { cancel(context.DeadlineExceeded) })
	})
	cancel(nil)
	srv.Resume(t)
	if err == nil || !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish to a stopped server = %v, want it to end with its context", err)
	}
	checkOnly(t, r, "m", 1, 2)

	// No orphan blobs: neither upload completed. (MinIO lists incomplete
	// uploads only for the uploads started since it last started, so the
	// killed one is left to MinIO's own expiry; see models/s3's doc.)
	st, err := r.GC(ctxT(t), 0)
	if err != nil || st.Orphans != 0 {
		t.Fatalf("GC = %+v, %v; want no orphans", st, err)
	}
	t.Logf("GC after the crashes: %+v", st)
	v := publish(t, r, "m", bigArtifact(3, size))
	a, _, err := r.Get(ctxT(t), "m", v)
	if err != nil || v != 3 {
		t.Fatalf("publish after recovery: v%d, %v", v, err)
	}
	wantBig(t, a, 3, size)
}

const crashDirEnv = "FLINT_MODELS_TEST_CRASH_DIR"

// TestCrashMidPublishLocal runs a publish in a child process and kills it
// (SIGKILL) while the artefact's temporary file is half written. The
// half-written file must stay invisible, and GC must remove it.
func TestCrashMidPublishLocal(t *testing.T) {
	const size = 20 << 20
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir, size) // never returns
	}
	t.Parallel()
	dir := t.TempDir()
	st, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := models.NewRegistry(st)
	publish(t, r, "m", art(1))
	publish(t, r, "m", art(2))
	if err := r.SetAlias(ctxT(t), "m", "production", 2); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidPublishLocal$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatal("child exited without reaching the middle of its upload")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not reach the middle of its upload in 30s")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	debris, _ := filepath.Glob(filepath.Join(dir, "blobs", "m", ".tmp-*"))
	if len(debris) != 1 {
		t.Fatalf("want the dead publish's temporary file, found %v", debris)
	}
	if fi, err := os.Stat(debris[0]); err != nil || fi.Size() == 0 || fi.Size() >= size {
		t.Fatalf("temporary file %v is not half written", fi)
	}
	checkOnly(t, r, "m", 1, 2)
	if _, info, err := r.GetAlias(ctxT(t), "m", "production"); err != nil || info.Version != 2 {
		t.Fatalf("production after the crash = v%d, %v", info.Version, err)
	}
	if es, _ := st.List(ctxT(t), ""); len(es) != 3 {
		t.Fatalf("after the crash the store lists %d objects, want 3", len(es))
	}
	gc, err := r.GC(ctxT(t), 0)
	if err != nil || gc.Debris != 1 || gc.Orphans != 0 {
		t.Fatalf("GC = %+v, %v; want the temporary file removed", gc, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "blobs", "m", ".tmp-*")); len(left) != 0 {
		t.Fatalf("GC left %v", left)
	}
	if v := publish(t, r, "m", art(3)); v != 3 {
		t.Fatalf("publish after the crash got v%d", v)
	}
}

// crashChild publishes a big artefact to dir, says "ready" once half of it
// is written, and waits to be killed.
func crashChild(dir string, size int) {
	st, err := local.New(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	reached := make(chan struct{})
	fs := &faultStore{Store: st, wrapPut: func(_ string, r io.Reader) io.Reader {
		return &gateReader{r: r, after: int64(size / 2), reached: reached, release: make(chan struct{})}
	}}
	go func() {
		<-reached
		fmt.Println("ready")
	}()
	_, err = models.NewRegistry(fs).Publish(context.Background(), "m", bigArtifact(3, size))
	fmt.Fprintln(os.Stderr, "child: Publish returned:", err)
	os.Exit(2)
}
