package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/models/s3"
)

func defaultStoreSpec() string {
	if v := os.Getenv("FLINT_STORE"); v != "" {
		return v
	}
	return "dir:flint-data/models"
}

// openStore opens the model store a --store value names:
//
//	dir:PATH                                 a local directory
//	s3://HOST:PORT/BUCKET[/PREFIX][?create=true]   S3 over http
//	s3s://HOST:PORT/BUCKET[/PREFIX][?create=true&insecure=true]  over https
//
// S3 credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or
// MINIO_ROOT_USER/MINIO_ROOT_PASSWORD).
func openStore(ctx context.Context, spec string) (models.Store, error) {
	bad := func(why string) (models.Store, error) {
		return nil, fmt.Errorf("--store %q: %s (want dir:PATH or s3://HOST:PORT/BUCKET[/PREFIX])", spec, why)
	}
	if dir, ok := strings.CutPrefix(spec, "dir:"); ok {
		if dir == "" {
			return bad("empty directory")
		}
		return local.New(dir)
	}
	u, err := url.Parse(spec)
	if err != nil || (u.Scheme != "s3" && u.Scheme != "s3s") {
		return bad("unknown store")
	}
	if u.Host == "" {
		return bad("no endpoint")
	}
	bucket, prefix, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if bucket == "" {
		return bad("no bucket")
	}
	q := u.Query()
	return s3.New(ctx, s3.Config{Endpoint: u.Host, Bucket: bucket, Prefix: prefix, UseTLS: u.Scheme == "s3s",
		CreateBucket: q.Get("create") == "true", InsecureSkipVerify: q.Get("insecure") == "true"})
}

// storeExists refuses a dir: store whose directory is missing, for the
// commands that only look at a store (flint models): opening it would
// create an empty one and print an empty table, hiding a mistyped path.
func storeExists(spec string) error {
	dir, ok := strings.CutPrefix(spec, "dir:")
	if !ok || dir == "" {
		return nil
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		abs, _ := filepath.Abs(dir)
		return fmt.Errorf("--store %s: the directory %s does not exist (flint train creates it; make run's store is dir:flint-data/demo/models)", spec, abs)
	case err != nil:
		return fmt.Errorf("--store %s: %w", spec, err)
	case !st.IsDir():
		return fmt.Errorf("--store %s: %s is not a directory", spec, dir)
	}
	return nil
}

// openRegistry opens the model registry over the store a --store value
// names (see openStore).
func openRegistry(ctx context.Context, spec string) (*models.Registry, error) {
	st, err := openStore(ctx, spec)
	if err != nil {
		return nil, err
	}
	return models.NewRegistry(st), nil
}
