package cluster

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"sort"
	"sync"
)

// Task is an aggregation over the partitions of a dataset. Each partition
// maps the broadcast value B into a partial result P; partials then combine
// pairwise in a fixed tree (see Aggregate).
//
// B and P must be encodable with encoding/gob, because on remote workers they
// cross a process boundary. Map must not modify the block or the broadcast
// value, and must be safe to call concurrently for different partitions.
type Task[B, P any] struct {
	// Name identifies the task across processes, e.g. "ml.logistic.gradient".
	Name string
	// New returns a zero partial for the broadcast value (sized from it).
	New func(b *B) *P
	// Map folds one partition into acc, a partial New returned.
	Map func(ctx context.Context, part Part, b *B, acc *P) error
	// Combine adds src into dst. It must be deterministic; it need not be
	// commutative, since the tree fixes the order of operands.
	Combine func(dst, src *P)
}

// Part is what a task sees of one partition.
type Part struct {
	Index int    // partition index within the dataset, 0-based
	Block *Block // the cached rows
}

// taskEntry is a registered task with its types erased, as an executor needs it.
type taskEntry interface {
	name() string
	// run maps every part into one fresh partial per part.
	run(ctx context.Context, part Part, b any) (any, error)
	combine(dst, src any)
	encodeBroadcast(b any) ([]byte, error)
	decodeBroadcast(data []byte) (any, error)
	encodePartial(p any) ([]byte, error)
	decodePartial(data []byte) (any, error)
}

func (t *Task[B, P]) name() string { return t.Name }

func (t *Task[B, P]) run(ctx context.Context, part Part, b any) (any, error) {
	bb, ok := b.(*B)
	if !ok {
		return nil, fmt.Errorf("cluster: task %s: broadcast is %T, want %T", t.Name, b, bb)
	}
	acc := t.New(bb)
	if err := t.Map(ctx, part, bb, acc); err != nil {
		return nil, err
	}
	return acc, nil
}

func (t *Task[B, P]) combine(dst, src any) { t.Combine(dst.(*P), src.(*P)) }

func gobEncode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (t *Task[B, P]) encodeBroadcast(b any) ([]byte, error) { return gobEncode(b) }
func (t *Task[B, P]) encodePartial(p any) ([]byte, error)   { return gobEncode(p) }

func (t *Task[B, P]) decodeBroadcast(data []byte) (any, error) {
	b := new(B)
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(b); err != nil {
		return nil, fmt.Errorf("cluster: task %s: decode broadcast: %w", t.Name, err)
	}
	return b, nil
}

func (t *Task[B, P]) decodePartial(data []byte) (any, error) {
	p := new(P)
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(p); err != nil {
		return nil, fmt.Errorf("cluster: task %s: decode partial: %w", t.Name, err)
	}
	return p, nil
}

// registry maps task names to tasks. It is written at init time only (by
// Register), like encoding/gob's type registry, so that a worker process
// built from the same code finds every task by name.
var registry = struct {
	sync.RWMutex
	m map[string]taskEntry
}{m: map[string]taskEntry{}}

// Register makes a task known by its name and returns it. Call it from a
// package-level variable initialiser. It panics on an empty or repeated name
// or a missing function: those are wiring errors, found at start-up.
func Register[B, P any](t *Task[B, P]) *Task[B, P] {
	if t.Name == "" || t.New == nil || t.Map == nil || t.Combine == nil {
		panic(fmt.Sprintf("cluster: Register(%q): Name, New, Map and Combine are all required", t.Name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[t.Name]; dup {
		panic(fmt.Sprintf("cluster: task %q registered twice", t.Name))
	}
	registry.m[t.Name] = t
	return t
}

func lookupTask(name string) (taskEntry, error) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.m[name]
	if !ok {
		return nil, fmt.Errorf("cluster: unknown task %q (is the package that registers it linked into this binary?)", name)
	}
	return t, nil
}

// Tasks lists the registered task names, sorted.
func Tasks() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Executor runs registered tasks on the partitions of datasets. The
// in-process Engine implements it; so does the driver side of remote workers.
type Executor interface {
	// MapPartitions runs the named task on every partition of ds with the
	// broadcast value b, and returns one partial per partition, in partition
	// order.
	MapPartitions(ctx context.Context, ds *Dataset, task string, b any) ([]any, error)
}

// Aggregate runs t on every partition of ds and combines the partials in a
// fixed binary tree over partition order: at each level, partial i absorbs
// partial i+step for i a multiple of 2·step. The result depends only on the
// data, the partitioning and b — never on how many workers ran it or in what
// order they finished.
func Aggregate[B, P any](ctx context.Context, x Executor, ds *Dataset, t *Task[B, P], b *B) (*P, error) {
	partials, err := x.MapPartitions(ctx, ds, t.Name, b)
	if err != nil {
		return nil, err
	}
	if len(partials) == 0 {
		return t.New(b), nil
	}
	ps := make([]*P, len(partials))
	for i, p := range partials {
		v, ok := p.(*P)
		if !ok {
			return nil, fmt.Errorf("cluster: task %s: partition %d returned %T, want %T", t.Name, i, p, v)
		}
		ps[i] = v
	}
	treeCombine(ps, t.Combine)
	return ps[0], nil
}

// treeCombine folds ps into ps[0] in the fixed tree order. Levels with many
// pairs combine in parallel; the order of operands never changes.
func treeCombine[P any](ps []*P, combine func(dst, src *P)) {
	n := len(ps)
	for step := 1; step < n; step *= 2 {
		pairs := 0
		for i := 0; i+step < n; i += 2 * step {
			pairs++
		}
		if pairs < 4 {
			for i := 0; i+step < n; i += 2 * step {
				combine(ps[i], ps[i+step])
			}
			continue
		}
		var wg sync.WaitGroup
		for i := 0; i+step < n; i += 2 * step {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				combine(ps[i], ps[i+step])
			}(i)
		}
		wg.Wait()
	}
}
