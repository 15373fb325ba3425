package models

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"time"
)

// Registry publishes artefacts as numbered versions of named models, and
// finds them again by number, alias or "latest". Its state lives entirely in
// the Store (see doc.go for the key layout), so any number of Registry
// values, in any number of processes, may share one Store. A Registry is
// safe for concurrent use.
type Registry struct {
	store   Store
	changes changeHooks // see OnChange
}

// NewRegistry returns a registry kept in s.
func NewRegistry(s Store) *Registry {
	if s == nil {
		panic("models: NewRegistry with a nil Store")
	}
	return &Registry{store: s}
}

// maxSwaps bounds the compare-and-swap retries of one update.
const maxSwaps = 200

const (
	manifestPrefix = "manifests/"
	manifestSuffix = ".json"
	blobPrefix     = "blobs/"
	blobSuffix     = ".flint"
)

func manifestKey(name string) string { return manifestPrefix + name + manifestSuffix }

// newBlobKey returns a key no other publish will choose: the publish time
// and 64 random bits.
func newBlobKey(name string, t time.Time) string {
	var r [8]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand)
	return fmt.Sprintf("%s%s/%020d-%s%s", blobPrefix, name, t.UnixNano(), hex.EncodeToString(r[:]), blobSuffix)
}

// errNoChange, returned by an update function, ends the update without
// writing.
var errNoChange = errors.New("no change")

// read returns name's manifest; a model never published gives an empty
// manifest with Tag "" (which PutIf takes as "must not exist yet").
func (r *Registry) read(ctx context.Context, name string) (*Manifest, error) {
	key := manifestKey(name)
	data, tag, err := r.store.Load(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return &Manifest{Name: name, Next: 1, Aliases: map[string]int{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("models: read manifest of %s: %w", name, err)
	}
	return unmarshalManifest(name, key, data, tag)
}

// update applies fn to the current manifest of name and swaps the result in,
// retrying from a fresh read whenever another writer got there first. An
// error from fn ends it; errNoChange ends it successfully without writing.
func (r *Registry) update(ctx context.Context, name string, fn func(m *Manifest) error) (*Manifest, error) {
	for attempt := 0; ; attempt++ {
		m, err := r.read(ctx, name)
		if err != nil {
			return nil, err
		}
		switch err := fn(m); {
		case errors.Is(err, errNoChange):
			return m, nil
		case err != nil:
			return nil, err
		}
		m.Revision++
		data, err := m.marshal()
		if err != nil {
			return nil, fmt.Errorf("models: encode manifest of %s: %w", name, err)
		}
		tag, err := r.store.PutIf(ctx, manifestKey(name), data, m.Tag)
		if err == nil {
			m.Tag = tag
			r.changes.call(name, m.Revision)
			return m, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("models: write manifest of %s: %w", name, err)
		}
		if attempt+1 == maxSwaps {
			return nil, fmt.Errorf("models: write manifest of %s: gave up after %d conflicting updates: %w", name, maxSwaps, err)
		}
		// Back off a random while, growing to 50ms, so racing writers spread out.
		d := time.Duration(mrand.Int64N(int64(min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)) + 1))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, fmt.Errorf("models: write manifest of %s: %w", name, context.Cause(ctx))
		}
	}
}

// Publish stores a as the next version of model name and returns its number.
// It uploads the encoded artefact under a new, unique key, then adds it to
// the model's manifest with a compare-and-swap. Until that swap nobody can
// see the version; if Publish fails or the process dies before it, the
// upload is an orphan that readers never look at and GC removes. If
// a.Created is zero the current time is recorded; a itself is not modified.
func (r *Registry) Publish(ctx context.Context, name string, a *Artifact) (int, error) {
	if err := CheckName(name); err != nil {
		return 0, err
	}
	if a == nil {
		return 0, fmt.Errorf("models: publish %s: nil artifact", name)
	}
	now := time.Now().UTC()
	art := *a
	if art.Created.IsZero() {
		art.Created = now
	}
	data, err := art.MarshalBinary()
	if err != nil {
		return 0, fmt.Errorf("models: publish %s: %w", name, err)
	}
	key := newBlobKey(name, now)
	if err := r.store.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return 0, fmt.Errorf("models: publish %s: upload %s (%d bytes): %w", name, key, len(data), err)
	}
	info := VersionInfo{
		Created: art.Created, Published: now, Algorithm: art.Algorithm, Size: int64(len(data)),
		SHA256: hex.EncodeToString(data[len(data)-trailerSize:]), Metrics: art.Metrics, Blob: key,
	}
	var version int
	_, err = r.update(ctx, name, func(m *Manifest) error {
		// A swap whose reply was lost may have landed: then our blob is
		// already listed, and that is our version.
		for _, v := range m.Versions {
			if v.Blob == key {
				version = v.Version
				return errNoChange
			}
		}
		version, info.Version = m.Next, m.Next
		m.Next++
		m.deleted = false
		m.Versions = append(m.Versions, info)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("models: publish %s: %w (uploaded %s is left for GC)", name, err, key)
	}
	return version, nil
}

// Describe returns the manifest of model name: its versions, with their
// metrics, sizes and times, and its aliases. It is one small read of the
// Store and cheap to poll; compare Manifest.Revision with an earlier one to
// see whether anything changed. A model that does not exist, or was
// deleted, is ErrNotFound.
func (r *Registry) Describe(ctx context.Context, name string) (*Manifest, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	m, err := r.read(ctx, name)
	if err != nil {
		return nil, err
	}
	if m.Tag == "" || m.deleted {
		return nil, fmt.Errorf("models: model %q: %w", name, ErrNotFound)
	}
	return m, nil
}

// List returns the names of the models that exist, sorted. It reads every
// manifest (to leave out deleted models): one List and one small read per
// model.
func (r *Registry) List(ctx context.Context) ([]string, error) {
	ms, err := r.manifests(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range ms {
		if !m.deleted {
			names = append(names, m.Name)
		}
	}
	return names, nil
}

// manifests reads every manifest in the store, tombstones included, sorted
// by name.
func (r *Registry) manifests(ctx context.Context) ([]*Manifest, error) {
	entries, err := r.store.List(ctx, manifestPrefix)
	if err != nil {
		return nil, fmt.Errorf("models: list models: %w", err)
	}
	var out []*Manifest
	for _, e := range entries {
		name, ok := strings.CutSuffix(strings.TrimPrefix(e.Key, manifestPrefix), manifestSuffix)
		if !ok || CheckName(name) != nil {
			continue // not a manifest this package wrote
		}
		m, err := r.read(ctx, name)
		if err != nil {
			return nil, err
		}
		if m.Tag != "" { // else deleted between List and read
			out = append(out, m)
		}
	}
	return out, nil
}

// Get returns version v of model name, verified against its checksum.
func (r *Registry) Get(ctx context.Context, name string, v int) (*Artifact, VersionInfo, error) {
	m, err := r.Describe(ctx, name)
	if err != nil {
		return nil, VersionInfo{}, err
	}
	info, ok := m.Version(v)
	if !ok {
		return nil, VersionInfo{}, fmt.Errorf("models: model %q version %d: %w", name, v, ErrNotFound)
	}
	return r.fetch(ctx, name, info)
}

// GetAlias returns the version of model name that alias points at;
// "latest" means Latest.
func (r *Registry) GetAlias(ctx context.Context, name, alias string) (*Artifact, VersionInfo, error) {
	if alias == LatestAlias {
		return r.Latest(ctx, name)
	}
	if err := CheckAlias(alias); err != nil {
		return nil, VersionInfo{}, err
	}
	m, err := r.Describe(ctx, name)
	if err != nil {
		return nil, VersionInfo{}, err
	}
	v, ok := m.Aliases[alias]
	if !ok {
		return nil, VersionInfo{}, fmt.Errorf("models: model %q alias %q: %w", name, alias, ErrNotFound)
	}
	info, _ := m.Version(v) // unmarshalManifest checked that it exists
	return r.fetch(ctx, name, info)
}

// Latest returns the highest version of model name.
func (r *Registry) Latest(ctx context.Context, name string) (*Artifact, VersionInfo, error) {
	m, err := r.Describe(ctx, name)
	if err != nil {
		return nil, VersionInfo{}, err
	}
	info, ok := m.Latest()
	if !ok {
		return nil, VersionInfo{}, fmt.Errorf("models: model %q has no versions: %w", name, ErrNotFound)
	}
	return r.fetch(ctx, name, info)
}

// fetch downloads and decodes one version, checking that the blob is the
// one the manifest names.
func (r *Registry) fetch(ctx context.Context, name string, info VersionInfo) (*Artifact, VersionInfo, error) {
	fail := func(err error) (*Artifact, VersionInfo, error) {
		return nil, VersionInfo{}, fmt.Errorf("models: get %s version %d from %s: %w", name, info.Version, info.Blob, err)
	}
	rc, err := r.store.Get(ctx, info.Blob)
	if err != nil {
		return fail(err) // ErrNotFound if the version was deleted since the manifest was read
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.Grow(int(min(info.Size, 1<<30)) + 1)
	if _, err := buf.ReadFrom(io.LimitReader(rc, info.Size+1)); err != nil {
		return fail(err)
	}
	data := buf.Bytes()
	if int64(len(data)) > info.Size {
		return fail(fmt.Errorf("%w: blob is longer than the %d bytes the manifest records", ErrChecksum, info.Size))
	}
	a := new(Artifact)
	if err := a.unmarshal(data, false); err != nil { // data is ours: no copies
		return fail(err)
	}
	if got := hex.EncodeToString(data[len(data)-trailerSize:]); got != info.SHA256 {
		return fail(fmt.Errorf("%w: blob has sha256 %s, the manifest says %s", ErrChecksum, got, info.SHA256))
	}
	return a, info, nil
}

// SetAlias points alias at version v of model name (promotion, e.g.
// "production" or "staging"), moving it if it pointed elsewhere. The move
// is recorded in the model's history without an actor or reason;
// SetAliasBy gives them.
func (r *Registry) SetAlias(ctx context.Context, name, alias string, v int) error {
	return r.SetAliasBy(ctx, name, alias, v, AliasChange{})
}

// AliasChange says who moves an alias and why, for the model's history.
type AliasChange struct {
	Actor, Reason string
	// Comparison, when set, is recorded with the decision: the evidence of
	// a champion/challenger promotion or of its refusal.
	Comparison *Comparison
}

// SetAliasBy is SetAlias recording the change's actor and reason in the
// model's history (Manifest.History).
func (r *Registry) SetAliasBy(ctx context.Context, name, alias string, v int, c AliasChange) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := CheckAlias(alias); err != nil {
		return err
	}
	_, err := r.update(ctx, name, func(m *Manifest) error {
		if m.Tag == "" || m.deleted {
			return fmt.Errorf("models: set alias %q: model %q: %w", alias, name, ErrNotFound)
		}
		if _, ok := m.Version(v); !ok {
			return fmt.Errorf("models: set alias %q: model %q version %d: %w", alias, name, v, ErrNotFound)
		}
		if m.Aliases[alias] == v {
			return errNoChange
		}
		m.record(AliasEvent{Time: time.Now().UTC(), Alias: alias, From: m.Aliases[alias], To: v, Moved: true, Actor: c.Actor, Reason: c.Reason, Comparison: c.Comparison})
		m.Aliases[alias] = v
		return nil
	})
	return err
}

// HoldAlias records in model name's history that alias was not moved to
// version v, and why (a trainer's thresholds failed, or a challenger did
// not beat the champion: c.Comparison); the alias stays.
func (r *Registry) HoldAlias(ctx context.Context, name, alias string, v int, c AliasChange) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := CheckAlias(alias); err != nil {
		return err
	}
	_, err := r.update(ctx, name, func(m *Manifest) error {
		if m.Tag == "" || m.deleted {
			return fmt.Errorf("models: hold alias %q: model %q: %w", alias, name, ErrNotFound)
		}
		m.record(AliasEvent{Time: time.Now().UTC(), Alias: alias, From: m.Aliases[alias], To: v, Actor: c.Actor, Reason: c.Reason, Comparison: c.Comparison})
		return nil
	})
	return err
}

// RemoveAlias removes alias from model name; a missing alias is ErrNotFound.
func (r *Registry) RemoveAlias(ctx context.Context, name, alias string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := CheckAlias(alias); err != nil {
		return err
	}
	_, err := r.update(ctx, name, func(m *Manifest) error {
		if _, ok := m.Aliases[alias]; !ok || m.deleted {
			return fmt.Errorf("models: remove alias: model %q alias %q: %w", name, alias, ErrNotFound)
		}
		m.record(AliasEvent{Time: time.Now().UTC(), Alias: alias, From: m.Aliases[alias], Moved: true})
		delete(m.Aliases, alias)
		return nil
	})
	return err
}

// DeleteVersion removes version v of model name. It refuses, with an error
// wrapping ErrInUse that names the aliases, while any alias points at v:
// move or remove them first, so that deleting never silently breaks what an
// alias serves. The number v is never given out again. Readers that read
// the manifest just before the delete may get ErrNotFound for the blob.
func (r *Registry) DeleteVersion(ctx context.Context, name string, v int) error {
	if err := CheckName(name); err != nil {
		return err
	}
	var blob string
	_, err := r.update(ctx, name, func(m *Manifest) error {
		info, ok := m.Version(v)
		if !ok || m.deleted {
			return fmt.Errorf("models: delete model %q version %d: %w", name, v, ErrNotFound)
		}
		if as := m.AliasesOf(v); len(as) > 0 {
			return fmt.Errorf("models: delete model %q version %d: aliases %q point at it (move or remove them first): %w",
				name, v, as, ErrInUse)
		}
		blob = info.Blob
		m.Versions = deleteVersion(m.Versions, v)
		return nil
	})
	if err != nil {
		return err
	}
	if err := r.store.Delete(ctx, blob); err != nil {
		return fmt.Errorf("models: model %q version %d is deleted, but removing %s failed (GC will retry): %w", name, v, blob, err)
	}
	return nil
}

func deleteVersion(vs []VersionInfo, v int) []VersionInfo {
	out := vs[:0:0]
	for _, vi := range vs {
		if vi.Version != v {
			out = append(out, vi)
		}
	}
	return out
}

// DeleteModel removes model name with all its versions and aliases. It
// leaves a small tombstone manifest behind, so that publishing the name
// again continues the numbering instead of reusing numbers.
func (r *Registry) DeleteModel(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	var blobs []string
	_, err := r.update(ctx, name, func(m *Manifest) error {
		if m.Tag == "" || m.deleted {
			return fmt.Errorf("models: delete model %q: %w", name, ErrNotFound)
		}
		blobs = blobs[:0]
		for _, v := range m.Versions {
			blobs = append(blobs, v.Blob)
		}
		m.Versions, m.Aliases, m.deleted = nil, nil, true
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range blobs {
		if err := r.store.Delete(ctx, b); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("models: model %q is deleted, but removing %d of its blobs failed (GC will retry): %w", name, len(errs), err)
	}
	return nil
}

// GCStats is what GC removed.
type GCStats struct {
	Orphans int // artefact blobs no manifest refers to
	Debris  int // what the Store's Sweeper removed
}

// GC removes artefact blobs that no manifest refers to (left by a publish
// that failed or crashed before its manifest swap, or by a delete whose blob
// removal failed) and, when the Store is a Sweeper, the Store's own debris.
// Only objects older than minAge are touched: a publish still uploading or
// about to swap its manifest must not lose its blob, so minAge must exceed
// the longest publish (an hour is a safe choice; 0 is for tests and for
// stores nobody is publishing to).
func (r *Registry) GC(ctx context.Context, minAge time.Duration) (GCStats, error) {
	var st GCStats
	entries, err := r.store.List(ctx, blobPrefix)
	if err != nil {
		return st, fmt.Errorf("models: gc: list blobs: %w", err)
	}
	cutoff := time.Now().Add(-minAge)
	refs := map[string]map[string]bool{} // model name -> referenced blobs; read after the List
	for _, e := range entries {
		if !e.Modified.Before(cutoff) && minAge > 0 {
			continue
		}
		name, _, ok := strings.Cut(strings.TrimPrefix(e.Key, blobPrefix), "/")
		if !ok || CheckName(name) != nil {
			continue
		}
		used, ok := refs[name]
		if !ok {
			m, err := r.read(ctx, name)
			if err != nil {
				return st, fmt.Errorf("models: gc: %w", err)
			}
			used = map[string]bool{}
			for _, v := range m.Versions {
				used[v.Blob] = true
			}
			refs[name] = used
		}
		if used[e.Key] {
			continue
		}
		if err := r.store.Delete(ctx, e.Key); err != nil {
			return st, fmt.Errorf("models: gc: delete orphan %s: %w", e.Key, err)
		}
		st.Orphans++
	}
	if sw, ok := r.store.(Sweeper); ok {
		n, err := sw.Sweep(ctx, minAge)
		st.Debris += n
		if err != nil {
			return st, fmt.Errorf("models: gc: sweep store: %w", err)
		}
	}
	return st, nil
}
