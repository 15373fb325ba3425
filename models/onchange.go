package models

import "sync"

// OnChange registers fn to be called after every manifest change made
// through this Registry (a publish, an alias set, moved or removed, a
// version or model deleted), with the model's name and new revision. It is
// how the process that publishes tells subscribers at once (package
// models/regevents) instead of waiting for their next poll. fn runs in the
// goroutine that made the change, after the change is stored; it must not
// block. Changes made by other processes, or through another Registry on
// the same store, are not seen: Watch polls for those.
func (r *Registry) OnChange(fn func(name string, revision int64)) {
	r.changes.mu.Lock()
	defer r.changes.mu.Unlock()
	r.changes.fns = append(r.changes.fns, fn)
}

// changeHooks are the functions OnChange registered.
type changeHooks struct {
	mu  sync.RWMutex
	fns []func(name string, revision int64)
}

func (h *changeHooks) call(name string, revision int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, fn := range h.fns {
		fn(name, revision)
	}
}
