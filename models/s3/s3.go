package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/flintml/flint/models"
)

// Config says where the store lives. Zero values mean the defaults given
// for each field. A Config must not be modified after New.
type Config struct {
	// Endpoint is "host:port", or a URL "http://host:port" or
	// "https://host:port" whose scheme sets UseTLS. Required.
	Endpoint string
	// Bucket holds the store. Required.
	Bucket string
	// Prefix is prepended to every key, e.g. "flint/models"; "" is the
	// bucket's root. At most 255 bytes, in the form of a models key. Several registries can share a bucket with different
	// prefixes.
	Prefix string
	// AccessKey and SecretKey: "" means $AWS_ACCESS_KEY_ID and
	// $AWS_SECRET_ACCESS_KEY, or else $MINIO_ROOT_USER and
	// $MINIO_ROOT_PASSWORD.
	AccessKey, SecretKey string
	// Region: "" means "us-east-1".
	Region string
	// UseTLS connects with https.
	UseTLS bool
	// InsecureSkipVerify accepts any server certificate (test servers
	// with self-signed certificates only).
	InsecureSkipVerify bool
	// CreateBucket makes the bucket when it does not exist; otherwise a
	// missing bucket is an error from New.
	CreateBucket bool
	// MaxRetries is how many times a failed request is tried; 0 means
	// minio-go's default (10), 1 means no retries.
	MaxRetries int
	// SingleWriter skips New's check that the server honours conditional
	// writes (If-Match / If-None-Match on PUT). Set it only for servers
	// without them, and then only one process may write the registry.
	SingleWriter bool
}

// maxPrefixLen keeps prefix + "/" + key within S3's 1024-byte object names.
const maxPrefixLen = 1024 - models.MaxKeyLen - 1

// Store is a models.Store in an S3 bucket, reached through minio-go. It is
// safe for concurrent use.
type Store struct {
	cl     *minio.Client
	core   minio.Core
	bucket string
	prefix string // "" or ends in "/"
	where  string // "bucket/prefix" for messages
}

// New connects to the server, checks that the bucket exists (creating it if
// c.CreateBucket is set) and, unless c.SingleWriter is set, that the server
// rejects a conditional write that should fail.
func New(ctx context.Context, c Config) (*Store, error) {
	if c.Endpoint == "" {
		return nil, errors.New("s3: Config.Endpoint is empty")
	}
	if c.Bucket == "" {
		return nil, errors.New("s3: Config.Bucket is empty")
	}
	endpoint, secure := c.Endpoint, c.UseTLS
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("s3: Config.Endpoint %q: %w", c.Endpoint, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("s3: Config.Endpoint %q: want host:port, http://host:port or https://host:port", c.Endpoint)
		}
		endpoint, secure = u.Host, u.Scheme == "https"
	}
	access, secret := c.AccessKey, c.SecretKey
	if access == "" && secret == "" {
		access, secret = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if access == "" && secret == "" {
			access, secret = os.Getenv("MINIO_ROOT_USER"), os.Getenv("MINIO_ROOT_PASSWORD")
		}
	}
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("s3: transport: %w", err)
	}
	if c.InsecureSkipVerify {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.InsecureSkipVerify = true
	}
	cl, err := minio.New(endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(access, secret, ""),
		Secure:     secure,
		Region:     region,
		Transport:  tr,
		MaxRetries: c.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: client for %s: %w", c.Endpoint, err)
	}
	prefix := strings.Trim(c.Prefix, "/")
	if prefix != "" {
		if err := models.CheckKey(prefix); err != nil {
			return nil, fmt.Errorf("s3: Config.Prefix: %w", err)
		}
		if len(prefix) > maxPrefixLen {
			return nil, fmt.Errorf("s3: Config.Prefix %q: longer than %d bytes", c.Prefix, maxPrefixLen)
		}
		prefix += "/"
	}
	s := &Store{cl: cl, core: minio.Core{Client: cl}, bucket: c.Bucket, prefix: prefix, where: c.Bucket + "/" + prefix}

	ok, err := cl.BucketExists(ctx, c.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: bucket %q at %s: %w", c.Bucket, c.Endpoint, err)
	}
	if !ok {
		if !c.CreateBucket {
			return nil, fmt.Errorf("s3: bucket %q at %s does not exist (create it, or set CreateBucket)", c.Bucket, c.Endpoint)
		}
		err := cl.MakeBucket(ctx, c.Bucket, minio.MakeBucketOptions{Region: region})
		if err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
			return nil, fmt.Errorf("s3: create bucket %q at %s: %w", c.Bucket, c.Endpoint, err)
		}
	}
	if !c.SingleWriter {
		if err := s.probeConditional(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// probeConditional checks that the server refuses a PUT with
// "If-None-Match: *" on an object that exists. A server that ignores the
// header would let two registry writers overwrite each other's manifests.
// Credentials that may not write pass: they cannot lose an update.
func (s *Store) probeConditional(ctx context.Context) error {
	var r [8]byte
	_, _ = rand.Read(r[:])
	obj := s.prefix + ".flint-cas-probe-" + hex.EncodeToString(r[:]) // never a valid key, so never listed
	defer s.cl.RemoveObject(context.WithoutCancel(ctx), s.bucket, obj, minio.RemoveObjectOptions{})
	for i := range 2 {
		_, err := s.putIf(ctx, obj, []byte("probe"), "")
		switch {
		case i == 0 && isCode(err, "AccessDenied"):
			return nil // read-only credentials (a server): no writes, no lost updates
		case i == 0 && err != nil:
			return fmt.Errorf("s3: probe conditional writes in %s: %w", s.where, err)
		case i == 1 && errors.Is(err, models.ErrConflict):
			return nil
		case i == 1 && err != nil:
			return fmt.Errorf("s3: probe conditional writes in %s: %w", s.where, err)
		}
	}
	return fmt.Errorf("s3: the server at %s ignores If-None-Match on PUT, so concurrent registry writers could lose updates; "+
		"use a server with conditional writes, or set Config.SingleWriter and run one writer", s.cl.EndpointURL().Host)
}

// object checks key and returns the object name in the bucket.
func (s *Store) object(key string) (string, error) {
	if err := models.CheckKey(key); err != nil {
		return "", fmt.Errorf("s3: %w", err)
	}
	return s.prefix + key, nil
}

// mapErr turns a minio-go error into one that wraps models.ErrNotFound or
// models.ErrConflict where it means that, naming the operation and object.
func (s *Store) mapErr(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey":
		return fmt.Errorf("s3: %s %s%s: %w", op, s.where, key, models.ErrNotFound)
	case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed" ||
		resp.Code == "ConditionalRequestConflict":
		return fmt.Errorf("s3: %s %s%s: %w (%v)", op, s.where, key, models.ErrConflict, err)
	}
	return fmt.Errorf("s3: %s %s%s: %w", op, s.where, key, err)
}

func isCode(err error, code string) bool { return minio.ToErrorResponse(err).Code == code }

// Put uploads the object; objects over 16 MiB go up in parts, and the
// object appears only when the last part is in (a dead upload leaves an
// incomplete multipart upload that Sweep aborts).
//
// Put returns as soon as ctx is done. minio-go then still tries to abort a
// multipart upload, on a context of its own that may last a minute when the
// server does not answer; that attempt finishes in the background and
// starts no new Read of r.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %s%s: %w", s.where, key, err)
	}
	fr := &fencedReader{r: r}
	var body io.Reader = fr
	if ra, ok := r.(readSeekerAt); ok {
		// minio-go uploads the parts of a ReaderAt in parallel, and seeks
		// back to retry a single PUT.
		body = &fencedReaderAt{fencedReader: fr, ra: ra}
	}
	done := make(chan error, 1)
	go func() {
		info, err := s.cl.PutObject(ctx, s.bucket, obj, body, size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
		switch {
		case err != nil:
			err = s.mapErr("put", key, err)
		case size >= 0 && info.Size != size:
			err = fmt.Errorf("s3: put %s%s: uploaded %d of %d bytes: %w", s.where, key, info.Size, size, io.ErrUnexpectedEOF)
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		fr.fence()
		return fmt.Errorf("s3: put %s%s: %w", s.where, key, context.Cause(ctx))
	}
}

// fencedReader stops reading its reader once fenced, so that Put's
// background upload makes no new Read of the caller's reader after Put
// returns. (A Read already blocked in the reader cannot be recalled.)
type fencedReader struct {
	r      io.Reader
	fenced atomic.Bool
}

func (f *fencedReader) Read(p []byte) (int, error) {
	if f.fenced.Load() {
		return 0, errors.New("s3: put abandoned")
	}
	return f.r.Read(p)
}

func (f *fencedReader) fence() { f.fenced.Store(true) }

type readSeekerAt interface {
	io.ReadSeeker
	io.ReaderAt
}

// fencedReaderAt is a fencedReader for readers that can also read at an
// offset and seek (a *bytes.Reader, an *os.File).
type fencedReaderAt struct {
	*fencedReader
	ra readSeekerAt
}

func (f *fencedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if f.fenced.Load() {
		return 0, errors.New("s3: put abandoned")
	}
	return f.ra.ReadAt(p, off)
}

func (f *fencedReaderAt) Seek(off int64, whence int) (int64, error) {
	if f.fenced.Load() {
		return 0, errors.New("s3: put abandoned")
	}
	return f.ra.Seek(off, whence)
}

// Get starts downloading the object.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.mapErr("get", key, err)
	}
	return rc, nil
}

// List lists the objects under the prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]models.Entry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's lister if we return early
	var out []models.Entry
	for o := range s.cl.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("s3: list %s%s: %w", s.where, prefix, o.Err)
		}
		key := strings.TrimPrefix(o.Key, s.prefix)
		if models.CheckKey(key) != nil {
			continue // not written through a Store (or the conditional-write probe)
		}
		out = append(out, models.Entry{Key: key, Size: o.Size, Modified: o.LastModified})
	}
	return out, nil // S3 lists in key order
}

// Delete removes the object.
func (s *Store) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if err := s.cl.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{}); err != nil && !isCode(err, "NoSuchKey") {
		return s.mapErr("delete", key, err)
	}
	return nil
}

// Load reads the object with one GET; the tag is its ETag.
func (s *Store) Load(ctx context.Context, key string) ([]byte, string, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, "", err
	}
	rc, info, _, err := s.core.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, "", s.mapErr("load", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, "", s.mapErr("load", key, err)
	}
	if info.ETag == "" {
		return nil, "", fmt.Errorf("s3: load %s%s: the server sent no ETag", s.where, key)
	}
	return data, info.ETag, nil
}

// PutIf is a PUT with "If-Match: <tag>", or "If-None-Match: *" when tag is
// "". The server compares and writes atomically; a 412 is ErrConflict.
func (s *Store) PutIf(ctx context.Context, key string, data []byte, tag string) (string, error) {
	obj, err := s.object(key)
	if err != nil {
		return "", err
	}
	newTag, err := s.putIf(ctx, obj, data, tag)
	if err != nil {
		return "", s.mapErr("put-if", key, err)
	}
	return newTag, nil
}

func (s *Store) putIf(ctx context.Context, obj string, data []byte, tag string) (string, error) {
	opts := minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true}
	if tag == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(tag)
	}
	info, err := s.cl.PutObject(ctx, s.bucket, obj, bytes.NewReader(data), int64(len(data)), opts)
	switch {
	case err == nil && info.ETag == "":
		return "", errors.New("the server sent no ETag")
	case err == nil:
		return info.ETag, nil
	case tag != "" && isCode(err, "NoSuchKey"):
		// If-Match on a missing object: the object we expected is gone.
		return "", fmt.Errorf("%w: object is missing, expected ETag %s", models.ErrConflict, tag)
	case errors.Is(err, models.ErrConflict):
		return "", err
	}
	if resp := minio.ToErrorResponse(err); resp.StatusCode == http.StatusPreconditionFailed ||
		resp.Code == "PreconditionFailed" || resp.Code == "ConditionalRequestConflict" {
		return "", fmt.Errorf("%w (%v)", models.ErrConflict, err)
	}
	return "", err
}

// Sweep aborts multipart uploads under the prefix that were started more
// than minAge ago: the remains of uploads whose writer died. It can abort
// only what the server lists. MinIO lists incomplete uploads by prefix only
// for uploads started since the server last started (older ones it finds
// only by exact key), and expires stale uploads itself after 24 hours
// (api stale_uploads_expiry); on AWS S3, add a lifecycle rule with
// AbortIncompleteMultipartUpload.
func (s *Store) Sweep(ctx context.Context, minAge time.Duration) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cutoff := time.Now().Add(-minAge)
	n := 0
	// Listed from the bucket's root: MinIO answers an empty prefix, not a
	// partial one.
	for u := range s.cl.ListIncompleteUploads(ctx, s.bucket, "", true) {
		if u.Err != nil {
			return n, fmt.Errorf("s3: list incomplete uploads in %s: %w", s.bucket, u.Err)
		}
		if !strings.HasPrefix(u.Key, s.prefix) || minAge > 0 && !u.Initiated.Before(cutoff) {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID); err != nil && !isCode(err, "NoSuchUpload") {
			return n, fmt.Errorf("s3: abort upload of %s/%s: %w", s.bucket, u.Key, err)
		}
		n++
	}
	return n, nil
}
