// Package models stores trained models: the artefact format, the registry of
// named, numbered versions with aliases, and the Store interface that the
// registry keeps everything in. models/local (a directory, the default) and
// models/s3 (any S3-compatible service, through minio-go) implement Store;
// models/storetest is the conformance suite both pass.
//
// The trainer builds an Artifact and calls Registry.Publish; the server
// calls Registry.GetAlias or Latest, and Registry.Watch to pick up new
// versions and alias moves without a restart.
//
// # Artefact layout (format version 1)
//
// An artefact is one blob. Integers are little-endian; strings are a uint32
// byte length and the bytes.
//
//	magic         8 bytes   "FLINTMDL"
//	version       uint16    format version, 1
//	flags         uint16    0 (any other value is rejected)
//	total length  uint64    bytes of the whole artefact, trailer included
//	algorithm     string    Artifact.Algorithm, not empty
//	flint version string    Artifact.FlintVersion
//	created       int64     Artifact.Created in Unix nanoseconds (0: unknown)
//	sections      uint32    count n, then n sections:
//	    name      uint8 length k (1..64), k bytes of [a-z0-9._-], starting with a letter
//	    body      uint64 length m, m bytes
//	checksum      32 bytes  SHA-256 of every byte before it
//
// The first five sections are always "pipeline" (the fitted feature
// pipeline, as features encodes it), "params" (the model parameters, as the
// algorithm encodes them), "metrics", "spec" (the job spec's YAML text) and
// "lineage", in that order. Further sections follow sorted by name; Decode
// keeps the ones it does not know in Artifact.Extra, so a newer Flint can add
// optional sections without a new format version.
//
//	metrics   uint32 count, then per metric, sorted by name: name string, value as float64 bits (uint64)
//	lineage   uint32 count, then per source: kind string, topic string, partition int64,
//	          path string, from int64, to int64
//
// Decode checks, in order: magic (ErrBadMagic), format version
// (ErrUnknownVersion), flags, the total length against the bytes read
// (io.ErrUnexpectedEOF when truncated), the checksum (ErrChecksum), then the
// sections (ErrMalformed). Each is reported as a *FormatError naming the part
// and byte offset. Encoding is canonical: Decode accepts only what Encode
// produces, so a decoded artefact re-encodes to the same bytes.
//
// # Store layout
//
//	manifests/<name>.json                        one manifest per model (JSON)
//	blobs/<name>/<unix-nanos>-<random>.flint     one artefact per published version
//
// A manifest lists the model's versions (number, blob key, size, SHA-256,
// algorithm, metrics, created and published times), its aliases, the next
// version number and a revision that grows with every change. Readers find
// blobs only through a manifest.
//
// # Atomic publish
//
// Publish encodes the artefact and uploads it under a new blob key that no
// other publish can pick (time plus 64 random bits); nothing refers to it
// yet. It then reads the manifest with its tag, adds the version (number =
// manifest's next), and writes the manifest back with Store.PutIf, which
// succeeds only if the manifest is unchanged since the read. On
// ErrConflict it re-reads and tries again with a fresh number, with a
// random, growing back-off. Version numbers are therefore assigned by
// the manifest swap that makes them visible, are never reused (deletions
// keep "next"; DeleteModel leaves a tombstone manifest), and every version
// a reader can see was completely uploaded first.
//
// If the process or the store dies before the swap, the uploaded blob (or a
// backend's temporary file, or an incomplete multipart upload) is an orphan
// that no manifest names: readers never see it, and Registry.GC removes it
// once it is older than the age GC is given. If the swap's reply is lost and
// the swap is retried, Publish finds its own blob key already listed and
// returns that version rather than publishing twice.
//
// # Concurrency
//
// A Registry is safe for concurrent use, and any number of registries in any
// number of processes may share one Store: the compare-and-swap on the
// manifest is the only synchronisation. models/local implements PutIf with
// an flock-ed lock file and an atomic rename (processes on one machine; not
// over NFS); models/s3 with conditional PUTs (If-Match / If-None-Match),
// which s3.New checks the server honours (MinIO and AWS S3 do). Writers to
// different models never conflict. Aliases and deletions go through the same
// swap, so an alias can only ever point at a version the same manifest
// lists; DeleteVersion refuses a version an alias points at.
//
// Reads are not locked: a reader that read a manifest just before a
// DeleteVersion may find the blob gone (ErrNotFound) and should re-read the
// manifest. GC must be given a minimum age longer than any publish takes,
// or it may delete the blob of a publish that has not swapped its manifest
// yet.
package models
