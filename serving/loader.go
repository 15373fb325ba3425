package serving

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/regevents"
)

// snapshot is the set of served models at one moment. It is immutable:
// every change builds a new snapshot and swaps it into Server.snap, so a
// request that loaded a snapshot (or a *loadedModel from it) uses it to the
// end unchanged, whatever is swapped in meanwhile.
type snapshot struct {
	models map[string]*modelState
	// synced is set once the whole registry has been listed and loaded.
	synced bool
	// ready: synced, and every model with versions has one it serves.
	ready bool
	// replaced is closed when a newer snapshot replaces this one.
	replaced chan struct{}
}

// modelState is one model in a snapshot; immutable like the snapshot.
type modelState struct {
	manifest *models.Manifest
	// loaded holds the versions loaded eagerly: the latest and every
	// aliased one, or, where one failed to load, the version that served
	// the same role before.
	loaded  map[int]*loadedModel
	latest  *loadedModel            // what "latest" serves; nil if none loaded
	aliases map[string]*loadedModel // what each alias serves
	def     *loadedModel            // what the unversioned routes serve
	// failures are the versions that failed to load, with the error.
	failures map[int]string
}

func (st *modelState) ready() bool { return st.def != nil || len(st.manifest.Versions) == 0 }

func newSnapshot(ms map[string]*modelState, synced bool) *snapshot {
	ready := synced
	for _, st := range ms {
		ready = ready && st.ready()
	}
	return &snapshot{models: ms, synced: synced, ready: ready, replaced: make(chan struct{})}
}

// swap installs snap; the caller holds loadMu.
func (s *Server) swap(snap *snapshot) {
	old := s.snap.Swap(snap)
	close(old.replaced)
}

// with returns a copy of the snapshot's model map with name set to st (or
// removed, when st is nil).
func (snap *snapshot) with(name string, st *modelState) map[string]*modelState {
	ms := make(map[string]*modelState, len(snap.models)+1)
	for n, m := range snap.models {
		ms[n] = m
	}
	if st == nil {
		delete(ms, name)
	} else {
		ms[name] = st
	}
	return ms
}

// StartLoader starts the model loader, if it is not running yet: it loads
// every model of the registry (its latest and aliased versions), then
// follows the registry's changes until Shutdown. Serve calls it; call it
// yourself when serving through Handler. It returns at once; Ready and
// WaitReady tell when the first load is done.
func (s *Server) StartLoader() {
	s.startOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.stop, s.life = cancel, ctx
		s.loaderDone = make(chan struct{})
		go s.runLoader(ctx)
	})
}

// runLoader is the loader goroutine: StartLoader starts it, Shutdown
// stops it.
func (s *Server) runLoader(ctx context.Context) {
	defer close(s.loaderDone)
	events := s.cfg.Registry.Watch(ctx, s.cfg.WatchInterval)
	synced := s.syncAll(ctx) == nil
	// watched holds the models the watch has reported. The watch reports
	// the deletion only of a model it has seen; a model syncAll loaded and
	// deleted before the watch's first poll is checked on each tick until
	// the watch has reported it (or it is gone).
	watched := map[string]bool{}
	tick := time.NewTicker(s.cfg.WatchInterval)
	defer tick.Stop()
	var changes <-chan regevents.Change // nil without a WatchURL: never ready
	if s.cfg.WatchURL != "" {
		changes = regevents.Subscribe(ctx, s.cfg.WatchURL, regevents.Options{Token: s.cfg.WatchToken, Logger: s.log})
	}
	for {
		select {
		case c, ok := <-changes:
			if ok {
				s.follow(ctx, c)
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch {
			case ev.Err != nil:
				s.metrics.watchErrors.Inc()
				s.log.Warn("serving: watch the model registry", "err", ev.Err)
			case ev.Manifest == nil:
				delete(watched, ev.Name)
				s.remove(ev.Name)
			default:
				watched[ev.Name] = true
				s.apply(ctx, ev.Manifest, false)
			}
		case <-tick.C:
			if !synced {
				synced = s.syncAll(ctx) == nil
			}
			for name := range s.snap.Load().models {
				if watched[name] {
					continue
				}
				if _, err := s.cfg.Registry.Describe(ctx, name); errors.Is(err, models.ErrNotFound) {
					s.remove(name)
				}
			}
			s.retryFailed(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// syncAll loads every model of the registry, then marks the snapshot
// synced.
func (s *Server) syncAll(ctx context.Context) error {
	names, err := s.cfg.Registry.List(ctx)
	if err == nil {
		for _, name := range names {
			m, derr := s.cfg.Registry.Describe(ctx, name)
			if errors.Is(derr, models.ErrNotFound) {
				continue // deleted since List
			}
			if derr != nil {
				err = derr
				break
			}
			s.apply(ctx, m, false)
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			s.metrics.watchErrors.Inc()
			s.log.Error("serving: list the model registry (retrying)", "err", err)
		}
		return err
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	cur := s.snap.Load()
	s.swap(newSnapshot(cur.models, true))
	s.log.Info("serving: models loaded", "models", len(cur.models), "ready", s.snap.Load().ready)
	return nil
}

// refresh re-reads one model's manifest and applies it at once (after an
// admin change, so that the response reflects it).
func (s *Server) refresh(ctx context.Context, name string) error {
	m, err := s.cfg.Registry.Describe(ctx, name)
	if errors.Is(err, models.ErrNotFound) {
		s.remove(name)
		return nil
	}
	if err != nil {
		return err
	}
	s.apply(ctx, m, false)
	return nil
}

// apply makes the snapshot serve manifest m: it loads the versions m wants
// that are not loaded yet, beside the ones serving now, then swaps. A
// version that fails to load leaves its role (latest, an alias) with the
// version that had it before, and is retried with backoff.
func (s *Server) apply(ctx context.Context, m *models.Manifest, retry bool) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	cur := s.snap.Load()
	old := cur.models[m.Name]
	if old != nil && (m.Revision < old.manifest.Revision || m.Revision == old.manifest.Revision && !retry) {
		// Older than what serves (an admin refresh overtook the watcher),
		// or the same (the watcher's first poll repeats what syncAll did).
		return
	}
	st := s.buildState(ctx, old, m)
	if ctx.Err() != nil {
		return // shutting down: half-loaded states are not installed
	}
	s.swap(newSnapshot(cur.with(m.Name, st), cur.synced))
	s.afterChange(m.Name, old, st)
}

// remove stops serving a deleted model.
func (s *Server) remove(name string) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	cur := s.snap.Load()
	old, ok := cur.models[name]
	if !ok {
		return
	}
	s.swap(newSnapshot(cur.with(name, nil), cur.synced))
	s.cache.purge(name)
	s.log.Info("serving: model deleted from the registry; no longer served", "model", name)
	s.afterChange(name, old, nil)
}

func (s *Server) buildState(ctx context.Context, old *modelState, m *models.Manifest) *modelState {
	st := &modelState{manifest: m, loaded: map[int]*loadedModel{}, aliases: map[string]*loadedModel{}, failures: map[int]string{}}
	latest, ok := m.Latest()
	if !ok {
		return st
	}
	want := []int{latest.Version}
	for _, v := range m.Aliases {
		want = append(want, v)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	for _, v := range want {
		if old != nil && old.loaded[v] != nil {
			st.loaded[v] = old.loaded[v]
			continue
		}
		if lm := s.cache.peek(m.Name, v); lm != nil {
			st.loaded[v] = lm
			continue
		}
		info, _ := m.Version(v)
		lm, err := s.loadVersion(ctx, m.Name, info)
		if err != nil {
			st.failures[v] = err.Error()
			continue
		}
		st.loaded[v] = lm
	}
	// Roles whose new version did not load keep the previous one, if the
	// registry still has it.
	keep := func(prev *loadedModel) *loadedModel {
		if prev == nil {
			return nil
		}
		if _, ok := m.Version(prev.version); !ok {
			return nil
		}
		st.loaded[prev.version] = prev
		return prev
	}
	st.latest = st.loaded[latest.Version]
	if st.latest == nil && old != nil {
		st.latest = keep(old.latest)
	}
	for alias, v := range m.Aliases {
		lm := st.loaded[v]
		if lm == nil && old != nil {
			lm = keep(old.aliases[alias])
		}
		if lm != nil {
			st.aliases[alias] = lm
		}
	}
	st.def = st.latest
	if a := s.cfg.DefaultAlias; a != "" {
		if _, ok := m.Aliases[a]; ok {
			st.def = st.aliases[a] // nil if it never loaded: never silently serve another version
		}
	}
	return st
}

// afterChange logs what a swap changed, updates the model gauges and
// schedules retries of failed loads. The caller holds loadMu.
func (s *Server) afterChange(name string, old, st *modelState) {
	var before, after *loadedModel
	if old != nil {
		before = old.def
	}
	if st != nil {
		after = st.def
	}
	if before != after && after != nil {
		from := 0
		if before != nil {
			from = before.version
		}
		s.log.Info("serving: swapped in a version", "model", name, "version", after.version, "previous", from)
	}
	s.metrics.setModel(name, old, st)
	if st == nil || len(st.failures) == 0 {
		delete(s.retries, name)
		return
	}
	r := s.retries[name]
	if r == nil {
		r = &backoff{delay: s.cfg.WatchInterval}
		s.retries[name] = r
	} else {
		r.delay = min(2*r.delay, maxRetryDelay)
	}
	r.next = time.Now().Add(r.delay)
}

// maxRetryDelay bounds the backoff between retries of a failed load.
const maxRetryDelay = time.Minute

type backoff struct {
	next  time.Time
	delay time.Duration
}

// retryFailed retries the loads that failed, each model on its backoff.
func (s *Server) retryFailed(ctx context.Context) {
	s.loadMu.Lock()
	var due []*models.Manifest
	now := time.Now()
	cur := s.snap.Load()
	for name, r := range s.retries {
		if st := cur.models[name]; st != nil && !now.Before(r.next) {
			due = append(due, st.manifest)
		}
	}
	s.loadMu.Unlock()
	for _, m := range due {
		s.apply(ctx, m, true)
	}
}

// loadVersion downloads, decodes and prepares one version.
func (s *Server) loadVersion(ctx context.Context, name string, info models.VersionInfo) (*loadedModel, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	start := time.Now()
	a, got, err := s.cfg.Registry.Get(ctx, name, info.Version)
	var lm *loadedModel
	if err == nil {
		lm, err = newLoadedModel(s.adapters, name, got, a)
	}
	if lm != nil {
		lm.strict = s.cfg.StrictFields
		lm.featureAge = s.metrics.featureAge.WithLabelValues(name)
		if ferr := s.attachFeatures(lm, a); errors.Is(ferr, errNoLog) {
			s.log.Warn("serving: rows must give every streaming feature", "model", name, "version", info.Version, "why", ferr)
		} else if ferr != nil {
			err = ferr
		} else if lm.feat != nil {
			// Ready only once the replica has read the changelog as far as
			// it reaches now: a restarted server serves no stale values.
			if ferr := lm.feat.rep.Sync(ctx); ferr != nil {
				err = fmt.Errorf("catch up with the changelog of feature definition %q: %w", lm.feat.def, ferr)
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("load model %s version %d: %w", name, info.Version, err)
		if !errors.Is(err, context.Canceled) { // not a failure of the model: the server is stopping
			s.metrics.loads.WithLabelValues(name, "failure").Inc()
			s.log.Error("serving: model failed to load", "model", name, "version", info.Version, "err", err)
		}
		return nil, err
	}
	s.metrics.loads.WithLabelValues(name, "success").Inc()
	s.metrics.inMemory.Inc()
	s.log.Info("serving: model loaded", "model", name, "version", info.Version, "algorithm", lm.algorithm,
		"features", lm.width, "took", time.Since(start).Round(time.Microsecond))
	// The old version of a swap is released when the last request using
	// it is done and the garbage collector frees it; say so then.
	runtime.AddCleanup(lm, func(r released) {
		r.s.metrics.inMemory.Dec()
		r.s.log.Info("serving: model released", "model", r.name, "version", r.version)
	}, released{s: s, name: name, version: info.Version})
	return lm, nil
}

type released struct {
	s       *Server
	name    string
	version int
}

// The references a request may give to a version.
type refKind int

const (
	refDefault refKind = iota // the unversioned routes
	refVersion                // /versions/{v}
	refAlias                  // /aliases/{alias}
)

// resolve finds the loaded model a request names. For refVersion, ref is a
// version number or, when aliasOK, also an alias (V2 clients can only
// name versions).
func (s *Server) resolve(ctx context.Context, name string, kind refKind, ref string, aliasOK bool) (*loadedModel, error) {
	if err := models.CheckName(name); err != nil {
		return nil, badRequest("%v", err)
	}
	st := s.snap.Load().models[name]
	if st == nil {
		return nil, errorf(404, "model %q not found", name)
	}
	switch kind {
	case refDefault:
		if st.def == nil {
			return nil, st.unavailable(name, "")
		}
		return st.def, nil
	case refVersion:
		v, err := strconv.Atoi(ref)
		if err == nil && v >= 1 && strconv.Itoa(v) != ref {
			return nil, badRequest("version %q of model %q: write the version number as %d (no sign, no leading zeros)", ref, name, v)
		}
		if err != nil || v < 1 || ref[0] == '+' {
			if !aliasOK {
				return nil, badRequest("version %q of model %q: want a version number (1, 2, ...)", ref, name)
			}
			return s.resolveAlias(st, name, ref)
		}
		if lm := st.loaded[v]; lm != nil {
			return lm, nil
		}
		info, ok := st.manifest.Version(v)
		if !ok {
			return nil, errorf(404, "model %q has no version %d", name, v)
		}
		lm, err := s.cache.get(ctx, name, v, func(ctx context.Context) (*loadedModel, error) { return s.loadVersion(ctx, name, info) })
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err() // the load goes on, for the next request
			}
			return nil, errorf(503, "model %q version %d failed to load; see GET /v1/models/%s", name, v, name).withCause(err)
		}
		return lm, nil
	}
	return s.resolveAlias(st, name, ref)
}

func (s *Server) resolveAlias(st *modelState, name, alias string) (*loadedModel, error) {
	if alias == models.LatestAlias {
		if st.latest == nil {
			return nil, st.unavailable(name, "latest")
		}
		return st.latest, nil
	}
	if err := models.CheckAlias(alias); err != nil {
		return nil, badRequest("%v", err)
	}
	if _, ok := st.manifest.Aliases[alias]; !ok {
		return nil, errorf(404, "model %q has no alias %q", name, alias)
	}
	if lm := st.aliases[alias]; lm != nil {
		return lm, nil
	}
	return nil, st.unavailable(name, alias)
}

// unavailable is the error for a role with no loaded version.
func (st *modelState) unavailable(name, alias string) error {
	if len(st.manifest.Versions) == 0 {
		return errorf(404, "model %q has no versions", name)
	}
	what := fmt.Sprintf("model %q", name)
	if alias != "" {
		what = fmt.Sprintf("alias %q of model %q", alias, name)
	}
	return errorf(503, "%s has no loaded version: it failed to load; see GET /v1/models/%s", what, name)
}

// versionCache keeps the versions loaded on demand (by /versions/{v}),
// least recently used first out. Concurrent requests for one version share
// one load, which runs in a goroutine of its own so that every request
// waits only as long as its context allows; close cancels the loads and
// waits for them. It is safe for concurrent use.
type versionCache struct {
	mu      sync.Mutex // guards the fields below
	max     int
	tick    uint64
	entries map[cacheKey]*cacheEntry
	closed  bool
	quit    chan struct{}  // closed by close: cancels the loads
	loads   sync.WaitGroup // the load goroutines
}

type cacheKey struct {
	name    string
	version int
}

type cacheEntry struct {
	done chan struct{} // closed when lm and err are set
	lm   *loadedModel
	err  error
	used uint64 // guarded by versionCache.mu
}

func newVersionCache(max int) *versionCache {
	return &versionCache{max: max, entries: map[cacheKey]*cacheEntry{}, quit: make(chan struct{})}
}

// errClosed is a load refused because the server is shutting down.
var errClosed = errors.New("serving: the server is shutting down")

// get returns the cached version, or loads it with load. A load that fails
// is not cached.
func (c *versionCache) get(ctx context.Context, name string, v int, load func(context.Context) (*loadedModel, error)) (*loadedModel, error) {
	k := cacheKey{name, v}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	c.tick++
	e, ok := c.entries[k]
	if ok {
		e.used = c.tick
	} else {
		e = &cacheEntry{done: make(chan struct{}), used: c.tick}
		c.entries[k] = e
		c.evict()
		c.loads.Add(1)
		go c.load(k, e, load)
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.lm, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *versionCache) load(k cacheKey, e *cacheEntry, load func(context.Context) (*loadedModel, error)) {
	defer c.loads.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // ends with the load, at the latest
		select {
		case <-c.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	e.lm, e.err = load(ctx)
	if e.err != nil {
		// Out of the cache before anyone can see the failure: a request
		// that comes after it loads again instead of getting the old error.
		c.mu.Lock()
		if c.entries[k] == e {
			delete(c.entries, k)
		}
		c.mu.Unlock()
	}
	close(e.done)
}

// close cancels the loads in progress and waits for them to end, or for
// ctx to.
func (c *versionCache) close(ctx context.Context) error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.quit)
	}
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		c.loads.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("serving: wait for the loads on demand: %w", ctx.Err())
	}
}

// evict drops the least recently used finished entries beyond max; the
// caller holds mu.
func (c *versionCache) evict() {
	for len(c.entries) > c.max {
		var oldest cacheKey
		var found *cacheEntry
		for k, e := range c.entries {
			select {
			case <-e.done:
			default:
				continue // loading
			}
			if found == nil || e.used < found.used {
				oldest, found = k, e
			}
		}
		if found == nil {
			return
		}
		delete(c.entries, oldest)
	}
}

// peek returns a successfully loaded cached version, or nil.
func (c *versionCache) peek(name string, v int) *loadedModel {
	c.mu.Lock()
	e := c.entries[cacheKey{name, v}]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	select {
	case <-e.done:
		return e.lm
	default:
		return nil
	}
}

// purge drops every cached version of a model.
func (c *versionCache) purge(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.name == name {
			delete(c.entries, k)
		}
	}
}
