package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/s3"
	"github.com/flintml/flint/models/s3/s3test"
	"github.com/flintml/flint/models/storetest"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	srv := s3test.Shared(t)
	t.Run("root", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) models.Store { return srv.NewStore(t) })
	})
	t.Run("prefix", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) models.Store {
			return srv.NewStore(t, func(c *s3.Config) { c.Prefix = "/flint/models/" })
		})
	})
}

func TestPrefixesAreSeparate(t *testing.T) {
	srv := s3test.Shared(t)
	bucket := srv.NewBucket(t)
	open := func(prefix string) *s3.Store {
		c := srv.Config(bucket)
		c.Prefix = prefix
		st, err := s3.New(ctxT(t), c)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, b, root := open("team-a"), open("team-b"), open("")
	if err := a.Put(ctxT(t), "k", strings.NewReader("a"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctxT(t), "k"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("another prefix sees the key: %v", err)
	}
	es, err := root.List(ctxT(t), "")
	if err != nil || len(es) != 1 || es[0].Key != "team-a/k" {
		t.Fatalf("root lists %+v, %v; want team-a/k", es, err)
	}
}

func TestNewConfig(t *testing.T) {
	srv := s3test.Shared(t)
	ctx := ctxT(t)
	c := srv.Config(fmt.Sprintf("flint-new-config-%x", rand.Uint64()))
	t.Cleanup(func() { srv.Client(t).RemoveBucket(context.Background(), c.Bucket) })
	if _, err := s3.New(ctx, c); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("New on a missing bucket = %v", err)
	}
	c.CreateBucket = true
	if _, err := s3.New(ctx, c); err != nil {
		t.Fatalf("New with CreateBucket: %v", err)
	}
	if _, err := s3.New(ctx, c); err != nil {
		t.Fatalf("New with CreateBucket on an existing bucket: %v", err)
	}
	// The endpoint as a URL.
	c.Endpoint = "http://" + srv.Endpoint
	if srv.TLS {
		c.Endpoint = "https://" + srv.Endpoint
	}
	if _, err := s3.New(ctx, c); err != nil {
		t.Fatalf("New with endpoint %s: %v", c.Endpoint, err)
	}
	// Credentials from the environment.
	env := c
	env.AccessKey, env.SecretKey = "", ""
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("MINIO_ROOT_USER", srv.AccessKey)
	t.Setenv("MINIO_ROOT_PASSWORD", srv.SecretKey)
	if _, err := s3.New(ctx, env); err != nil && srv.AccessKey != "" {
		t.Fatalf("New with credentials from MINIO_ROOT_*: %v", err)
	}
	wrong := c
	wrong.SecretKey = "not-the-secret"
	if _, err := s3.New(ctx, wrong); err == nil {
		t.Fatal("New with a wrong secret key succeeded")
	}
	for name, bad := range map[string]s3.Config{
		"no endpoint":  {Bucket: "b"},
		"no bucket":    {Endpoint: srv.Endpoint},
		"bad scheme":   {Endpoint: "ftp://" + srv.Endpoint, Bucket: "b"},
		"path in url":  {Endpoint: "http://" + srv.Endpoint + "/x", Bucket: "b"},
		"bad prefix":   {Endpoint: srv.Endpoint, Bucket: c.Bucket, Prefix: "../up", AccessKey: c.AccessKey, SecretKey: c.SecretKey},
		"hidden prefx": {Endpoint: srv.Endpoint, Bucket: c.Bucket, Prefix: ".x", AccessKey: c.AccessKey, SecretKey: c.SecretKey},
		"long prefix":  {Endpoint: srv.Endpoint, Bucket: c.Bucket, Prefix: strings.Repeat("p/", 129), AccessKey: c.AccessKey, SecretKey: c.SecretKey},
	} {
		if _, err := s3.New(ctx, bad); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestSweepAbortsIncompleteUploads(t *testing.T) {
	srv := s3test.Shared(t)
	bucket := srv.NewBucket(t)
	c := srv.Config(bucket)
	c.Prefix = "reg"
	st, err := s3.New(ctxT(t), c)
	if err != nil {
		t.Fatal(err)
	}
	core := minio.Core{Client: srv.Client(t)}
	for _, key := range []string{"reg/blobs/m/dead.flint", "other/keep.bin"} {
		id, err := core.NewMultipartUpload(ctxT(t), bucket, key, minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := core.PutObjectPart(ctxT(t), bucket, key, id, 1, bytes.NewReader(make([]byte, 5<<20)), 5<<20, minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.Sweep(ctxT(t), time.Hour); err != nil || n != 0 {
		t.Fatalf("Sweep(1h) = %d, %v; want the young upload kept", n, err)
	}
	if n, err := st.Sweep(ctxT(t), 0); err != nil || n != 1 {
		t.Fatalf("Sweep(0) = %d, %v; want 1 (the upload outside the prefix is not ours)", n, err)
	}
	left := 0
	for u := range srv.Client(t).ListIncompleteUploads(ctxT(t), bucket, "", true) {
		if u.Key != "other/keep.bin" {
			t.Errorf("upload of %s survived", u.Key)
		}
		left++
	}
	if left != 1 {
		t.Fatalf("%d uploads left, want 1", left)
	}
}

// TestPutReturnsOnCancel: Put gives up as soon as its context ends, even
// when the reader is slow.
func TestPutReturnsOnCancel(t *testing.T) {
	st := s3test.Shared(t).NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, 1<<20)) // then nothing more
	start := time.Now()
	err := st.Put(ctx, "slow", pr, 40<<20)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Put took %v to give up", d)
	}
	if _, err := st.Get(ctxT(t), "slow"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("Get after a canceled Put = %v", err)
	}
}
