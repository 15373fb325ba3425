package cluster

import (
	"context"
	"fmt"
	"sync"
)

// Scope is a Cluster that owns the datasets created through it: it passes
// every call on to the cluster it wraps, records each dataset that
// LoadSources, FromBlocks and DerivePartitions cache (and so RandomSplit,
// Select and everything built on them), and drops on Close every one not
// dropped yet. A training job makes one per run and closes it however the
// run ends, so no job leaves partitions cached on the workers.
//
// Datasets passed to a Scope but created elsewhere are used, never dropped,
// by Close. A Scope is safe for concurrent use.
type Scope struct {
	c Cluster

	mu     sync.Mutex
	live   map[*Dataset]struct{}
	order  []*Dataset // creation order, for dropping newest first
	closed bool
}

var (
	_ Cluster     = (*Scope)(nil)
	_ ViewDeriver = (*Scope)(nil)
)

// NewScope wraps c. Close the scope to drop what was cached through it;
// c itself stays open.
func NewScope(c Cluster) *Scope { return &Scope{c: c, live: map[*Dataset]struct{}{}} }

// add records ds as owned, or drops it at once when the scope was closed
// while ds was being built.
func (s *Scope) add(ds *Dataset, err error) (*Dataset, error) {
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.c.Drop(ds)
		return nil, fmt.Errorf("cluster: dataset %q was cached after its scope closed, and dropped", ds.Name())
	}
	s.live[ds] = struct{}{}
	s.order = append(s.order, ds)
	s.mu.Unlock()
	return ds, nil
}

// LoadSources implements Cluster.
func (s *Scope) LoadSources(ctx context.Context, l LogReader, name string, sources []Source) (*Dataset, error) {
	return s.add(s.c.LoadSources(ctx, l, name, sources))
}

// FromBlocks implements Cluster.
func (s *Scope) FromBlocks(ctx context.Context, name string, blocks []*Block) (*Dataset, error) {
	return s.add(s.c.FromBlocks(ctx, name, blocks))
}

// DerivePartitions implements Deriver.
func (s *Scope) DerivePartitions(ctx context.Context, ds *Dataset, name, transform string, arg any) (*Dataset, error) {
	return s.add(s.c.DerivePartitions(ctx, ds, name, transform, arg))
}

// MapPartitions implements Executor.
func (s *Scope) MapPartitions(ctx context.Context, ds *Dataset, task string, b any) ([]any, error) {
	return s.c.MapPartitions(ctx, ds, task, b)
}

// ScanSources implements Scanner.
func (s *Scope) ScanSources(ctx context.Context, l LogReader, sources []Source, task string, b any) ([]any, error) {
	return s.c.ScanSources(ctx, l, sources, task, b)
}

// Workers implements Cluster.
func (s *Scope) Workers() int { return s.c.Workers() }

// Drop releases a dataset's partitions now, whoever created it.
func (s *Scope) Drop(ds *Dataset) {
	s.mu.Lock()
	delete(s.live, ds)
	s.mu.Unlock()
	s.c.Drop(ds)
}

// Live is the number of datasets created through the scope and not
// dropped yet.
func (s *Scope) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Close drops every dataset created through the scope and not dropped yet,
// newest first. Datasets still being built when Close is called are dropped
// as soon as they are. Close is idempotent and always returns nil.
func (s *Scope) Close() error {
	s.mu.Lock()
	s.closed = true
	var drop []*Dataset
	for i := len(s.order) - 1; i >= 0; i-- {
		if _, ok := s.live[s.order[i]]; ok {
			drop = append(drop, s.order[i])
		}
	}
	s.live, s.order = map[*Dataset]struct{}{}, nil
	s.mu.Unlock()
	for _, ds := range drop {
		s.c.Drop(ds)
	}
	return nil
}

// DerivesViews implements ViewDeriver: where the wrapped cluster does.
// The scope owns the views as it owns every derived dataset.
func (s *Scope) DerivesViews(ds *Dataset) bool {
	vd, ok := s.c.(ViewDeriver)
	return ok && vd.DerivesViews(ds)
}

// viewsFolds implements foldViewer: views where the wrapped cluster makes
// them.
func (s *Scope) viewsFolds(ds *Dataset) bool { return FoldsAreViews(s.c, ds) }

// foldViews implements foldViewer: views where the wrapped cluster makes
// them (Folds), copies through the scope otherwise; either way the scope
// owns the folds.
func (s *Scope) foldViews(ctx context.Context, ds *Dataset, k int, seed uint64) (train, test []*Dataset, err error) {
	fv, ok := s.c.(foldViewer)
	if !ok {
		return copyFolds(ctx, s, ds, k, seed)
	}
	train, test, err = fv.foldViews(ctx, ds, k, seed)
	if err != nil {
		return nil, nil, err
	}
	for i, d := range append(append([]*Dataset(nil), train...), test...) {
		if _, err = s.add(d, nil); err != nil {
			// The scope closed: add dropped d; drop the ones not added yet.
			rest := append(append([]*Dataset(nil), train...), test...)[i+1:]
			dropAll(s.c, rest)
			return nil, nil, err
		}
	}
	return train, test, nil
}
