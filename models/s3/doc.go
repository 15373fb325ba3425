// Package s3 is a models.Store in a bucket of an S3-compatible service (AWS
// S3, MinIO, ...), reached through github.com/minio/minio-go/v7.
//
//	st, err := s3.New(ctx, s3.Config{Endpoint: "http://127.0.0.1:9000", Bucket: "flint", Prefix: "models"})
//
// Keys map to object names Prefix + "/" + key. Objects over 16 MiB are
// uploaded in parts; S3 makes an object visible only when its upload
// completes, so a Put that fails or whose writer dies leaves no object (at
// most an incomplete multipart upload, which Sweep aborts, see its doc).
//
// # Errors
//
// "NoSuchKey" maps to models.ErrNotFound. A failed condition (HTTP 412
// "PreconditionFailed", or 409 "ConditionalRequestConflict") maps to
// models.ErrConflict. Other errors keep minio-go's error wrapped, with the
// operation, bucket and key in the message.
//
// # Compare-and-swap
//
// Load is one GET, and its tag is the object's ETag from the same response.
// PutIf is a single-part PUT with "If-Match: <etag>", or "If-None-Match: *"
// to create; the server compares and writes atomically. New checks that the
// server really refuses a failed condition (by creating a probe object twice
// with If-None-Match: *), since a server that ignored the headers would let
// concurrent registry writers lose updates; Config.SingleWriter skips the
// check for servers without conditional writes, and then only one process
// may write the registry.
//
// A Store is safe for concurrent use.
package s3
