package cluster

import (
	"fmt"
	"sync/atomic"
)

// Source is where a partition's rows came from: its lineage. Re-reading a
// source yields exactly the same rows, which is how a lost partition is
// rebuilt.
type Source struct {
	// Kind is "log", "file" or "memory" (memory cannot be re-read).
	Kind string
	// Log: records [From, To) of partition LogPartition of Topic.
	Topic        string
	LogPartition int
	// File: the lines starting in bytes [From, To) of Path (To -1: to the end).
	Path string
	// From and To bound offsets (log) or bytes (file); for memory they are
	// the row range of the original slices.
	From, To int64
	// Format decodes the records or lines.
	Format Format
	// Join, when set, names a registered join (RegisterJoin) that reads the
	// log source's records and hands on values of its own instead: a
	// point-in-time join of label records with the features as of their
	// time, say. JoinArg is its argument. Everything that reads a source
	// (loads, scans, re-reads after a lost partition) sees the join's
	// values.
	Join    string
	JoinArg []byte
}

func (s Source) String() string {
	switch s.Kind {
	case "log":
		return fmt.Sprintf("log %s/%d offsets [%d, %d)", s.Topic, s.LogPartition, s.From, s.To)
	case "file":
		if s.To < 0 {
			return fmt.Sprintf("file %s from byte %d", s.Path, s.From)
		}
		return fmt.Sprintf("file %s bytes [%d, %d)", s.Path, s.From, s.To)
	}
	return fmt.Sprintf("memory rows [%d, %d)", s.From, s.To)
}

// PartitionStats describes one cached partition.
type PartitionStats struct {
	Index   int
	Worker  int   // the worker the partition is pinned to
	Rows    int   // rows cached
	Skipped int   // bad records skipped while decoding
	Bytes   int64 // memory the cached block holds
	Source  Source
}

// Dataset is a handle on a cached, partitioned dataset. The rows live with
// the executor that loaded it (in this process for Engine, in worker
// processes for remote executors); the handle carries the shape and the
// lineage. A Dataset is immutable and safe for concurrent use.
type Dataset struct {
	id     uint64
	name   string
	cols   int
	sparse bool
	parts  []PartitionStats
}

var datasetIDs atomic.Uint64

// Name is the name the dataset was loaded under.
func (d *Dataset) Name() string { return d.name }

// NumPartitions is the number of partitions.
func (d *Dataset) NumPartitions() int { return len(d.parts) }

// Cols is the number of features per row.
func (d *Dataset) Cols() int { return d.cols }

// Sparse reports whether the partitions are CSR blocks.
func (d *Dataset) Sparse() bool { return d.sparse }

// Rows is the total number of rows.
func (d *Dataset) Rows() int {
	n := 0
	for _, p := range d.parts {
		n += p.Rows
	}
	return n
}

// Skipped is the number of bad records skipped while decoding (by the
// decoder's policy).
func (d *Dataset) Skipped() int {
	n := 0
	for _, p := range d.parts {
		n += p.Skipped
	}
	return n
}

// Bytes is the memory the cached partitions hold.
func (d *Dataset) Bytes() int64 {
	var n int64
	for _, p := range d.parts {
		n += p.Bytes
	}
	return n
}

// Stats returns one entry per partition.
func (d *Dataset) Stats() []PartitionStats { return append([]PartitionStats(nil), d.parts...) }

// Lineage returns the source of every partition, in partition order.
func (d *Dataset) Lineage() []Source {
	s := make([]Source, len(d.parts))
	for i, p := range d.parts {
		s[i] = p.Source
	}
	return s
}
