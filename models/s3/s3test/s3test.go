// Package s3test runs real MinIO servers on loopback for tests of
// models/s3 and of code that stores models in S3.
//
// A test gets an S3 store on a fresh bucket with
//
//	func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		st := s3test.Shared(t).NewStore(t)
//		...
//	}
//
// Shared returns one server per test binary: the one FLINT_TEST_S3 names,
// or else a MinIO process started on first use (on a free loopback port,
// with a temporary data directory) and stopped by Main when the tests end.
// Every NewStore or NewBucket call makes a bucket of its own, so tests do not
// see each other's objects. Start runs a dedicated server that a test may
// kill and restart (crash tests); it is stopped when the test ends.
//
// FLINT_TEST_S3 is "http://ACCESS:SECRET@HOST:PORT" (or https://; add
// "?insecure=1" to accept a self-signed certificate). Without ACCESS:SECRET
// the credentials come from the environment as models/s3 reads them. Its
// buckets are removed, with their objects, after each test.
//
// The server binary is $FLINT_MINIO, or else .tools/minio in the repository
// (installed by `make tools`). MinIO is AGPL-licensed: it runs as a separate
// process and is never linked into Flint. When the binary is missing, tests
// fail with a message saying how to install it; they are never skipped.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	flints3 "github.com/flintml/flint/models/s3"
)

// Server is a MinIO server, either a process this package started or the
// external one FLINT_TEST_S3 names.
type Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	TLS       bool
	Insecure  bool // accept any certificate

	external bool
	bin      string
	dataDir  string
	logPath  string

	mu   sync.Mutex // guards cmd and done while Kill and Restart run
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
}

// The one shared server of a test binary.
var shared struct {
	once   sync.Once
	srv    *Server
	err    error
	inMain bool
}

// Main runs the tests and then stops the shared server, if one was
// started. Call it from TestMain in every package that uses Shared.
func Main(m *testing.M) int {
	shared.inMain = true
	code := m.Run()
	if s := shared.srv; s != nil && !s.external {
		s.stop()
		os.RemoveAll(filepath.Dir(s.dataDir))
	}
	return code
}

// Shared returns the test binary's server, starting it on first use.
func Shared(t testing.TB) *Server {
	t.Helper()
	if !shared.inMain {
		t.Fatal("s3test: Shared needs s3test.Main: add func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }")
	}
	shared.once.Do(func() {
		if env := os.Getenv("FLINT_TEST_S3"); env != "" {
			shared.srv, shared.err = external(env)
			return
		}
		var dir string
		dir, shared.err = os.MkdirTemp("", "flint-minio-")
		if shared.err != nil {
			return
		}
		shared.srv, shared.err = start(dir)
		if shared.err != nil {
			os.RemoveAll(dir)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// external parses FLINT_TEST_S3.
func external(env string) (*Server, error) {
	u, err := url.Parse(env)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("s3test: FLINT_TEST_S3=%q: want http://ACCESS:SECRET@HOST:PORT (or https://)", env)
	}
	s := &Server{Endpoint: u.Host, TLS: u.Scheme == "https", external: true}
	s.Insecure = u.Query().Get("insecure") == "1" || u.Query().Get("insecure") == "true"
	if u.User != nil {
		s.AccessKey = u.User.Username()
		s.SecretKey, _ = u.User.Password()
	}
	return s, nil
}

// Start runs a MinIO server of the test's own, with a data directory in
// t.TempDir(), and stops it when the test ends. Use it to kill or stop the
// server; other tests should use Shared.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// Binary returns the path of the MinIO server binary: $FLINT_MINIO, or
// .tools/minio at the root of the module containing the working directory.
func Binary() (string, error) {
	if p := os.Getenv("FLINT_MINIO"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".tools", "minio"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("s3test: no go.mod above the working directory to find .tools/minio; set FLINT_MINIO")
		}
		dir = parent
	}
}

func start(parent string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("s3test: MinIO server binary not found at %s: run `make tools` "+
			"(or set FLINT_MINIO to a minio binary, or FLINT_TEST_S3 to a running server)", bin)
	}
	s := &Server{
		AccessKey: "flinttest",
		SecretKey: randHex(12),
		bin:       bin,
		dataDir:   filepath.Join(parent, "data"),
		logPath:   filepath.Join(parent, "minio.log"),
	}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return nil, err
	}
	if err := s.run(""); err != nil {
		return nil, err
	}
	return s, nil
}

// run starts the process on addr ("" picks a free port) and waits until it
// answers /minio/health/live.
func (s *Server) run(addr string) error {
	var lastErr error
	for try := 0; try < 3; try++ {
		a := addr
		if a == "" || try > 0 {
			a = freeAddr()
		}
		if lastErr = s.runOnce(a); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (s *Server) runOnce(addr string) error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "server", s.dataDir, "--address", addr, "--console-address", freeAddr(), "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=on")
	cmd.Stdout, cmd.Stderr = logf, logf
	setDeathSignal(cmd) // the server dies with the test binary, even if it panics
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("s3test: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()

	s.mu.Lock()
	s.cmd, s.done, s.Endpoint = cmd, done, addr
	s.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("s3test: minio exited during start-up on %s (%v); log %s:\n%s", addr, cmd.ProcessState, s.logPath, tail(s.logPath))
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get("http://" + addr + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && s.answers() {
				return nil
			}
		}
	}
	s.stop()
	return fmt.Errorf("s3test: minio on %s not live after 30s; log %s:\n%s", addr, s.logPath, tail(s.logPath))
}

// answers reports whether the server serves S3 requests: it answers
// /minio/health/live a little before it is initialised.
func (s *Server) answers() bool {
	cl, err := minio.New(s.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), MaxRetries: 1,
	})
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = cl.ListBuckets(ctx)
	return err == nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("s3test: no free loopback port: %v", err))
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop kills the process, if it is running, and waits for it.
func (s *Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // in case it was stopped
	_ = cmd.Process.Kill()
	<-done
}

// Kill sends SIGKILL to the server, as a crash or power cut would, and waits
// for it to exit. Only for servers from Start.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.mustOwn(t)
	s.stop()
}

// Pause stops the server process with SIGSTOP: connections stay open but
// nothing answers. Resume continues it.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.mustOwn(t)
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("s3test: SIGSTOP minio: %v", err)
	}
}

// Resume continues a server stopped by Pause.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.mustOwn(t)
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("s3test: SIGCONT minio: %v", err)
	}
}

// Restart starts the server again on the same data directory after Kill,
// on the same address if it is free (Endpoint says where it is now).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mustOwn(t)
	s.stop()
	if err := s.run(s.Endpoint); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) mustOwn(t testing.TB) {
	t.Helper()
	if s.external || s.cmd == nil {
		t.Fatal("s3test: only a server from Start can be killed, paused or restarted")
	}
}

// Config returns a models/s3 configuration for bucket on this server.
// Retries are limited to 2 tries, so tests that break the server fail fast.
func (s *Server) Config(bucket string) flints3.Config {
	return flints3.Config{
		Endpoint: s.Endpoint, Bucket: bucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		UseTLS: s.TLS, InsecureSkipVerify: s.Insecure, MaxRetries: 2,
	}
}

// NewStore returns a store on a new bucket of the test's own. edit, if
// given, may change the configuration first.
func (s *Server) NewStore(t testing.TB, edit ...func(*flints3.Config)) *flints3.Store {
	t.Helper()
	c := s.Config(s.NewBucket(t))
	for _, e := range edit {
		e(&c)
	}
	st, err := flints3.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// NewBucket creates a bucket named after the test, unique to this call. On
// an external server it is removed, objects and all, when the test ends.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	cl := s.client(t)
	name := bucketName(t.Name())
	ctx := context.Background()
	if err := cl.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("s3test: create bucket %s on %s: %v", name, s.Endpoint, err)
	}
	if s.external {
		t.Cleanup(func() {
			if err := removeBucket(ctx, cl, name); err != nil {
				t.Logf("s3test: remove bucket %s: %v", name, err)
			}
		})
	}
	return name
}

// Client returns a plain minio-go client for the server, for tests that
// look behind the store's back.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	return s.client(t)
}

func (s *Server) client(t testing.TB) *minio.Client {
	t.Helper()
	opts := &minio.Options{Secure: s.TLS, MaxRetries: 2}
	if s.AccessKey != "" {
		opts.Creds = credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")
	} else {
		opts.Creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}})
	}
	if s.Insecure {
		tr, err := minio.DefaultTransport(true)
		if err != nil {
			t.Fatal(err)
		}
		tr.TLSClientConfig.InsecureSkipVerify = true
		opts.Transport = tr
	}
	cl, err := minio.New(s.Endpoint, opts)
	if err != nil {
		t.Fatalf("s3test: client for %s: %v", s.Endpoint, err)
	}
	return cl
}

func removeBucket(ctx context.Context, cl *minio.Client, bucket string) error {
	objs := cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for res := range cl.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			return res.Err
		}
	}
	for u := range cl.ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err == nil {
			_ = cl.RemoveIncompleteUpload(ctx, bucket, u.Key)
		}
	}
	return cl.RemoveBucket(ctx, bucket)
}

// bucketName makes a valid, unique bucket name from a test name:
// lower-case letters, digits and '-', at most 63 bytes.
func bucketName(test string) string {
	var b strings.Builder
	b.WriteString("t-")
	dash := true
	for _, r := range strings.ToLower(test) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := b.String()
	suffix := randHex(4)
	if len(name) > 63-len(suffix)-1 {
		name = name[:63-len(suffix)-1]
	}
	name = strings.TrimRight(name, "-")
	return name + "-" + suffix
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
