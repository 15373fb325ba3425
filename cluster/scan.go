package cluster

import (
	"context"
	"fmt"
)

// ScanTask aggregates over the raw values of sources — log record values or
// file lines — without caching them. Feature transforms are fitted this way
// before the dataset they produce is built. Like Task it is registered by
// name, and B and P must be gob-encodable.
type ScanTask[B, P any] struct {
	Name string
	// New returns a zero partial.
	New func(b *B) *P
	// Value folds one value into acc; where() names its position
	// ("topic/partition@offset" or "file:line") for errors. The value is
	// only valid during the call.
	Value func(b *B, acc *P, value []byte, where func() string) error
	// Combine adds src into dst.
	Combine func(dst, src *P)
}

var scans = map[string]scanEntry{}

type scanEntry interface {
	scan(ctx context.Context, l LogReader, s Source, b any) (any, error)
}

func (t *ScanTask[B, P]) scan(ctx context.Context, l LogReader, s Source, b any) (any, error) {
	bb, ok := b.(*B)
	if !ok {
		return nil, fmt.Errorf("cluster: scan %s: argument is %T, want %T", t.Name, b, bb)
	}
	acc := t.New(bb)
	err := EachValue(ctx, l, s, func(v []byte, where func() string) error { return t.Value(bb, acc, v, where) })
	if err != nil {
		return nil, err
	}
	return acc, nil
}

// RegisterScan makes a scan task known by name; see Register.
func RegisterScan[B, P any](t *ScanTask[B, P]) *ScanTask[B, P] {
	if t.Name == "" || t.New == nil || t.Value == nil || t.Combine == nil {
		panic(fmt.Sprintf("cluster: RegisterScan(%q): Name, New, Value and Combine are all required", t.Name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := scans[t.Name]; dup {
		panic(fmt.Sprintf("cluster: scan %q registered twice", t.Name))
	}
	scans[t.Name] = t
	return t
}

// Scanner is an executor that can scan sources.
type Scanner interface {
	// ScanSources runs the named scan task over every source, on the worker
	// each source's partition would be pinned to, and returns one partial
	// per source in order. l is the log for log sources (remote executors
	// use their workers' own connections).
	ScanSources(ctx context.Context, l LogReader, sources []Source, task string, b any) ([]any, error)
}

// Scan runs t over the sources and combines the partials in the fixed tree
// order of Aggregate, so the result is the same for any number of workers.
func Scan[B, P any](ctx context.Context, x Scanner, l LogReader, sources []Source, t *ScanTask[B, P], b *B) (*P, error) {
	partials, err := x.ScanSources(ctx, l, sources, t.Name, b)
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
			return nil, fmt.Errorf("cluster: scan %s: source %d returned %T, want %T", t.Name, i, p, v)
		}
		ps[i] = v
	}
	treeCombine(ps, t.Combine)
	return ps[0], nil
}

// ScanSources implements Scanner.
func (e *Engine) ScanSources(ctx context.Context, l LogReader, sources []Source, task string, b any) ([]any, error) {
	registry.RLock()
	t, ok := scans[task]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("cluster: unknown scan task %q", task)
	}
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.inflight.Done()
	what := "scan " + task
	l, stop := watchLog(l, what, e.cfg.Logger)
	defer stop()
	h := readBuffers.hold(len(sources))
	defer h.release()
	out := make([]any, len(sources))
	err := e.runOnWorkers(ctx, len(sources), "scan "+task, func(ctx context.Context, i int) error {
		h.start()
		p, err := t.scan(ctx, l, sources[i], b)
		if err != nil {
			return fmt.Errorf("scan %s of %s: %w", task, sources[i], err)
		}
		out[i] = p
		return nil
	})
	if err != nil {
		return nil, SummarizeUnavailable(what, err)
	}
	return out, nil
}
