package models

import (
	"context"
	"maps"
	"slices"
	"time"
)

// Event reports a change seen by Watch.
type Event struct {
	// Name is the model that changed.
	Name string
	// Manifest is the model's new state; nil when the model was deleted.
	Manifest *Manifest
	// Err is a poll that failed (Name and Manifest are then empty); the
	// watcher keeps polling.
	Err error
}

// DefaultWatchInterval is the poll interval Watch uses when given 0.
const DefaultWatchInterval = 2 * time.Second

// Watch polls the store every interval (0 means DefaultWatchInterval) and
// sends an Event for every model whose manifest changed: a publish, an alias
// set, moved or removed, a version or model deleted. The first poll, made at
// once, reports every existing model, so a server can load them all from the
// events alone. One poll costs one List and one small read per model.
//
// The goroutine Watch starts stops when ctx is done, and closes the channel
// as it exits. Events are not buffered: a slow reader delays the next poll,
// and several changes between two polls arrive as one Event with the latest
// manifest.
func (r *Registry) Watch(ctx context.Context, interval time.Duration) <-chan Event {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	ch := make(chan Event)
	go func() {
		defer close(ch)
		seen := map[string]int64{} // model name -> revision last reported
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			for _, ev := range r.poll(ctx, seen) {
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// poll reads every manifest and returns the changes since seen, updating it.
func (r *Registry) poll(ctx context.Context, seen map[string]int64) []Event {
	ms, err := r.manifests(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return []Event{{Err: err}}
	}
	var evs []Event
	present := make(map[string]bool, len(ms))
	for _, m := range ms {
		if m.deleted {
			continue
		}
		present[m.Name] = true
		if rev, ok := seen[m.Name]; ok && rev == m.Revision {
			continue
		}
		seen[m.Name] = m.Revision
		evs = append(evs, Event{Name: m.Name, Manifest: m})
	}
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		if !present[name] {
			delete(seen, name)
			evs = append(evs, Event{Name: name})
		}
	}
	return evs
}
