// Package local is the default models.Store: objects are files under a
// directory.
//
// A key "a/b/c" is the file <dir>/a/b/c; models.CheckKey rules out keys
// that could leave the directory ("..", absolute paths, empty components)
// and names starting with '.', which this package uses for its own files:
//
//	.tmp-<random>    an object being written, beside its final name
//	.<name>.lock     the lock file of the object <name>, for PutIf
//
// List skips both, so readers see only complete objects.
//
// # Atomic writes
//
// Put and PutIf write a temporary file in the object's directory, fsync it,
// rename it over the object's name and fsync the directory (new directories
// are fsynced into their parents too). A reader sees the old file or the new
// one, never part of one; after a crash the object is the old or the new
// version, and at worst a .tmp- file is left, which Sweep (called by
// models.Registry.GC) removes.
//
// Delete removes the directories a deletion leaves empty, up to the root. A
// writer that finds its directory removed between creating it and creating
// its file in it creates it again.
//
// # Compare-and-swap
//
// PutIf takes an exclusive flock(2) on the object's lock file, compares the
// SHA-256 of the current contents with the tag the caller read (Load returns
// it), and writes with the atomic write above. The kernel releases the lock
// when its holder dies, so a crash never leaves the store locked. This
// serialises writers in all processes on one machine; flock is not reliable
// on network file systems, so do not share a store directory over NFS
// between machines (use models/s3). On systems without flock only the
// goroutines of one process are serialised.
package local
