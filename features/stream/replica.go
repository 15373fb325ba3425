package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flintml/flint/log"
)

// Replica is a server's copy of a definition's states, materialised from
// the processor's changelog topic: every key's newest state (the one whose
// last event has the highest source offset). A server reads a key's values
// as of the request's time from it by the Value training uses, so the
// values served at t are those a training row at t gets, once the replica
// has caught up with the events before t. Started again, it reads the
// changelog from the start.
type Replica struct {
	agg   *Aggregator
	l     log.Log
	topic string
	poll  time.Duration
	log   *slog.Logger

	mu      sync.RWMutex
	states  map[string]Stored
	pos     []int64       // next changelog offset per partition
	lag     int64         // changelog records behind at the last poll
	newest  int64         // the latest stream time of any key (ms)
	changed chan struct{} // closed and replaced whenever pos moves
}

// ReplicaConfig configures a Replica.
type ReplicaConfig struct {
	// Changelog is the changelog topic; default "features.NAME.changelog",
	// the processor's default.
	Changelog string
	// Poll is how long the replica waits at the end of the changelog
	// before reading again. Default 100ms.
	Poll time.Duration
	// Logger receives what the replica waits for. Default slog.Default().
	Logger *slog.Logger
}

// NewReplica returns a replica of def's states, to be filled by Run.
func NewReplica(l log.Log, def *Definition, cfg ReplicaConfig) *Replica {
	if cfg.Changelog == "" {
		cfg.Changelog = "features." + def.Name + ".changelog"
	}
	if cfg.Poll == 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Replica{agg: NewAggregator(def), l: l, topic: cfg.Changelog, poll: cfg.Poll, log: cfg.Logger,
		states: map[string]Stored{}, changed: make(chan struct{}), newest: -MaxTime - 1}
}

// Definition is the replica's definition.
func (r *Replica) Definition() *Definition { return r.agg.def }

// Run follows the changelog until ctx ends, waiting for the topic to be
// created if no processor has run yet.
func (r *Replica) Run(ctx context.Context) error {
	info, err := r.describe(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.pos = make([]int64, len(info.Partitions))
	for i, p := range info.Partitions {
		r.pos[i] = p.Earliest
	}
	r.mu.Unlock()
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wait.C:
		}
		read, err := r.pollOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Warn("features: replica: read the changelog", "topic", r.topic, "err", err)
		}
		if read {
			wait.Reset(0)
		} else {
			wait.Reset(r.poll)
		}
	}
}

// describe waits for the changelog topic to exist.
func (r *Replica) describe(ctx context.Context) (log.TopicInfo, error) {
	logged := false
	for {
		info, err := r.l.Describe(ctx, r.topic)
		if err == nil {
			return info, nil
		}
		if !errors.Is(err, log.ErrUnknownTopic) {
			return info, fmt.Errorf("features: replica: describe %s: %w", r.topic, err)
		}
		if !logged {
			r.log.Info("features: replica: waiting for the changelog topic (is flint features run running?)", "topic", r.topic)
			logged = true
		}
		select {
		case <-ctx.Done():
			return info, ctx.Err()
		case <-time.After(r.poll):
		}
	}
}

// pollOnce reads what each partition holds beyond the replica's position;
// read says whether it read anything.
func (r *Replica) pollOnce(ctx context.Context) (read bool, err error) {
	r.mu.RLock()
	pos := append([]int64(nil), r.pos...)
	r.mu.RUnlock()
	var lag int64
	for q := range pos {
		recs, err := r.l.Read(ctx, r.topic, q, pos[q], log.ReadOptions{MaxRecords: 4096, MaxBytes: 8 << 20})
		if err != nil {
			return read, err
		}
		if len(recs) > 0 {
			if err := r.apply(q, recs); err != nil {
				return read, err
			}
			read = true
		}
		if off, err := r.l.Offsets(ctx, r.topic, q); err == nil {
			r.mu.RLock()
			lag += max(off.Latest-r.pos[q], 0)
			r.mu.RUnlock()
		}
	}
	r.mu.Lock()
	r.lag = lag
	r.mu.Unlock()
	return read, nil
}

// apply takes the newer states of a batch of changelog records.
func (r *Replica) apply(q int, recs []log.Record) error {
	type upd struct {
		key string
		st  Stored
	}
	ups := make([]upd, 0, len(recs))
	for i := range recs {
		rec := &recs[i]
		st, err := r.agg.DecodeStored(rec.Value)
		if err != nil {
			return fmt.Errorf("features: replica: changelog record %s/%d at offset %d: %w", r.topic, q, rec.Offset, err)
		}
		ups = append(ups, upd{string(rec.Key), st})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range ups {
		if cur, ok := r.states[u.key]; ok && cur.Partition == u.st.Partition && cur.Offset >= u.st.Offset {
			continue // an older state republished after a restore
		}
		r.states[u.key] = u.st
		if t, ok := u.st.State.Time(); ok && t > r.newest {
			r.newest = t
		}
	}
	r.pos[q] = recs[len(recs)-1].Offset + 1
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// Values writes the key's feature values as of time t (milliseconds) into
// dst, len(Definition().Features) long: those of an empty state for a key
// the replica has no state of. It returns the key's stream time, and
// whether it has one.
func (r *Replica) Values(key string, t int64, dst []float64) (streamTime int64, ok bool) {
	r.mu.RLock()
	st, ok := r.states[key]
	if ok {
		r.agg.Value(st.State, t, dst)
		streamTime, _ = st.State.Time()
	}
	r.mu.RUnlock()
	if !ok {
		r.agg.Value(r.agg.NewState(), t, dst)
	}
	return streamTime, ok
}

// Sync waits until the replica has read the changelog up to its end as of
// the call.
func (r *Replica) Sync(ctx context.Context) error {
	info, err := r.describe(ctx)
	if err != nil {
		return err
	}
	for {
		r.mu.RLock()
		done := len(r.pos) == len(info.Partitions)
		for q, p := range info.Partitions {
			if done && r.pos[q] < p.Latest {
				done = false
			}
		}
		ch := r.changed
		r.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-time.After(r.poll):
		}
	}
}

// Stats are a replica's figures: keys held, changelog records not read
// yet (at the last poll), and the latest stream time of any key.
func (r *Replica) Stats() (keys int, lag int64, newest int64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.states), r.lag, r.newest
}
