//go:build !unix

package local

import (
	"context"
	"sync"
)

// Without flock, PutIf serialises only within this process: several
// processes must not write one store (the single-writer assumption).
var locks sync.Map // path -> chan struct{} of capacity 1

func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	v, _ := locks.LoadOrStore(path, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func isNotDir(error) bool { return false }
