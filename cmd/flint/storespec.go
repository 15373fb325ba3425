package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
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

// openRegistry opens the model registry a --store value names:
//
//	dir:PATH                                 a local directory
//	s3://HOST:PORT/BUCKET[/PREFIX][?create=true]   S3 over http
//	s3s://HOST:PORT/BUCKET[/PREFIX][?create=true&insecure=true]  over https
//
// S3 credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or
// MINIO_ROOT_USER/MINIO_ROOT_PASSWORD).
func openRegistry(ctx context.Context, spec string) (*models.Registry, error) {
	bad := func(why string) (*models.Registry, error) {
		return nil, fmt.Errorf("--store %q: %s (want dir:PATH or s3://HOST:PORT/BUCKET[/PREFIX])", spec, why)
	}
	if dir, ok := strings.CutPrefix(spec, "dir:"); ok {
		if dir == "" {
			return bad("empty directory")
		}
		st, err := local.New(dir)
		if err != nil {
			return nil, err
		}
		return models.NewRegistry(st), nil
	}
	u, err := url.Parse(spec)
	if err != nil || (u.Scheme != "s3" && u.Scheme != "s3s") {
		return bad("unknown store")
	}
	if u.Host == "" {
		return bad("no endpoint")
	}
	path := strings.Trim(u.Path, "/")
	bucket, prefix, _ := strings.Cut(path, "/")
	if bucket == "" {
		return bad("no bucket")
	}
	q := u.Query()
	st, err := s3.New(ctx, s3.Config{Endpoint: u.Host, Bucket: bucket, Prefix: prefix, UseTLS: u.Scheme == "s3s",
		CreateBucket: q.Get("create") == "true", InsecureSkipVerify: q.Get("insecure") == "true"})
	if err != nil {
		return nil, err
	}
	return models.NewRegistry(st), nil
}
