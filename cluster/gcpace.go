package cluster

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The garbage collector's pacing while partitions are cached
// (Config.PaceGC).
//
// Go starts a collection once the heap has grown by GOGC percent (100 by
// default) of what the last one found live. Cached partitions stay live as
// long as their dataset and make most of a training process's heap, but
// they make no garbage and hold no pointers (marking them costs the
// collector nothing). Counted in the live heap, they let garbage grow to
// their own size before a collection: the read buffers of a load, the
// partials of every pass and the evaluation's scratch all piled up beside
// the Fashion job's 376 MB matrix until the end of the job.
//
// So while engines that pace hold cached bytes, the percent is set to what
// gives the heap that is not cached its GOGC percent of room:
//
//	percent = GOGC × max(live − cached, 4 MiB) / live   (at least 1)
//
// recomputed after every collection (live is what it found) and whenever
// the cached bytes change, and put back to GOGC when nothing is cached any
// more. The floor of 4 MiB is the runtime's
// own smallest heap goal; with GOGC=off nothing changes.
var gcPace struct {
	mu     sync.Mutex
	cached int64  // bytes cached by engines that pace
	base   int    // the percent before pacing began
	dead   int64  // bytes let go since the last collection (paceDead)
	gen    uint64 // bumped when pacing starts, so an old hook stops re-arming
	active bool
}

// gcPaceFloor is the least room a paced heap gets over what it holds live.
const gcPaceFloor = 4 << 20

// PaceCached adds delta bytes to the cached bytes the collector is paced
// by (see Config.PaceGC), starting or stopping the pacing as the total
// leaves or returns to zero. Engines with PaceGC call it; so may anything
// else that holds cached blocks, a remote worker's cache for one.
func PaceCached(delta int64) {
	gcPace.mu.Lock()
	defer gcPace.mu.Unlock()
	gcPace.cached += delta
	switch {
	case gcPace.cached > 0 && !gcPace.active:
		base := debug.SetGCPercent(100)
		debug.SetGCPercent(base)
		if base <= 0 {
			return // GOGC=off (or 0): not ours to change
		}
		gcPace.base, gcPace.active, gcPace.dead = base, true, 0
		gcPace.gen++
		setPacedPercent()
		armPaceHook(gcPace.gen)
	case gcPace.cached <= 0 && gcPace.active:
		gcPace.active = false
		debug.SetGCPercent(gcPace.base)
	case gcPace.active:
		setPacedPercent()
	}
}

// paceDead tells the pacing that n bytes the last collection found live
// are garbage now (the read buffers a load lets go at its end): until the
// next collection they are not counted in the heap that earns room.
func paceDead(n int64) {
	gcPace.mu.Lock()
	defer gcPace.mu.Unlock()
	if gcPace.active {
		gcPace.dead += n
		setPacedPercent()
	}
}

// setPacedPercent sets the percent from the last collection's live heap.
// gcPace.mu must be held.
func setPacedPercent() {
	s := [1]metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s[:])
	live := int64(s[0].Value.Uint64())
	if live <= 0 {
		return
	}
	other := max(live-gcPace.cached-gcPace.dead, gcPaceFloor)
	p := int(min(int64(gcPace.base), max(1, int64(gcPace.base)*other/live)))
	debug.SetGCPercent(p)
}

// paceSentinel is an object whose finalizer runs after the collection that
// finds it unreachable: the hook that recomputes the percent once per
// collection. It holds a pointer so that it is not a tiny allocation
// (whose finalizers may never run).
type paceSentinel struct{ _ *int }

func armPaceHook(gen uint64) {
	runtime.SetFinalizer(&paceSentinel{}, func(*paceSentinel) {
		gcPace.mu.Lock()
		defer gcPace.mu.Unlock()
		if !gcPace.active || gcPace.gen != gen {
			return
		}
		gcPace.dead = 0
		setPacedPercent()
		armPaceHook(gen)
	})
}

// pacedPercent reports whether pacing is on and the percent it set; for
// tests.
func pacedPercent() (bool, int) {
	gcPace.mu.Lock()
	defer gcPace.mu.Unlock()
	if !gcPace.active {
		return false, 0
	}
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return true, p
}
