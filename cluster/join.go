package cluster

import (
	"context"
	"fmt"
)

// JoinFunc reads a log source s — a partition's offset range, and
// s.JoinArg — and calls fn with the values it derives, in a fixed order,
// with where naming each value's position for errors. It must derive the
// same values every time it reads the same source, since a lost partition
// is rebuilt by reading its source again.
type JoinFunc func(ctx context.Context, l LogReader, s Source, fn func(value []byte, where func() string) error) error

var joins = map[string]JoinFunc{}

// RegisterJoin makes a join known by name, for Source.Join. Register joins
// in init functions, so every worker process knows them.
func RegisterJoin(name string, f JoinFunc) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := joins[name]; dup || name == "" || f == nil {
		panic(fmt.Sprintf("cluster: RegisterJoin(%q): empty, nil or registered twice", name))
	}
	joins[name] = f
}

func eachJoinedValue(ctx context.Context, l LogReader, s Source, fn func([]byte, func() string) error) error {
	registry.RLock()
	f, ok := joins[s.Join]
	registry.RUnlock()
	if !ok {
		return fmt.Errorf("cluster: %s: unknown join %q (is the package that registers it linked into this binary?)", s, s.Join)
	}
	return f(ctx, l, s, fn)
}
