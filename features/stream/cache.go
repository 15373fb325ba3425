package stream

// stateCache keeps the committed states of recently changed keys decoded,
// so that a key's next batch neither reads the store nor decodes. A batch
// changes the cached states in place: it hands them back with keep once
// they are committed, and forgets them when it fails, so the cache never
// holds a state the store does not. Whatever writes the store outside a
// batch (a restore, adopting a predecessor's changelog) clears it.
type stateCache struct {
	max    int
	states map[string]*batchState
}

func newStateCache(max int) stateCache {
	return stateCache{max: max, states: map[string]*batchState{}}
}

func (c *stateCache) get(key string) *batchState { return c.states[key] }

// keep caches a committed batch's states, evicting others at random (map
// order) when the bound is reached.
func (c *stateCache) keep(states map[string]*batchState) {
	for k, st := range states {
		st.dirty = false
		if _, ok := c.states[k]; !ok && len(c.states) >= c.max {
			for old := range c.states {
				delete(c.states, old)
				break
			}
		}
		c.states[k] = st
	}
}

// forget drops the states a failed batch may have changed.
func (c *stateCache) forget(states map[string]*batchState) {
	for k := range states {
		delete(c.states, k)
	}
}

// clear drops everything.
func (c *stateCache) clear() { clear(c.states) }
