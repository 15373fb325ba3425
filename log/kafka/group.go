package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/flintml/flint/log"
	kafkago "github.com/segmentio/kafka-go"
)

// JoinGroup makes the caller a member of a Kafka consumer group (the
// classic protocol, through kafka-go's ConsumerGroup, with the range
// assignor preferred and round-robin as fallback). It returns once the
// member holds its first assignment. Missing topics are created first,
// unless Config.NoAutoCreate is set, in which case they are an error.
func (l *Log) JoinGroup(ctx context.Context, cfg log.GroupConfig) (log.Consumer, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, topic := range cfg.Topics {
		if _, err := l.ensureTopic(ctx, topic); err != nil {
			return nil, fmt.Errorf("kafka: join group %q: %w", cfg.Group, err)
		}
	}
	start := kafkago.FirstOffset
	if cfg.StartAt == log.StartLatest {
		start = kafkago.LastOffset
	}
	logger := l.logger.With("group", cfg.Group)
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                cfg.Group,
		Brokers:           l.cfg.Brokers,
		Dialer:            l.dialer,
		Topics:            slices.Clone(cfg.Topics),
		HeartbeatInterval: l.cfg.HeartbeatInterval,
		SessionTimeout:    l.cfg.SessionTimeout,
		RebalanceTimeout:  l.cfg.RebalanceTimeout,
		JoinGroupBackoff:  l.cfg.JoinGroupBackoff,
		StartOffset:       start,
		Timeout:           l.cfg.RequestTimeout,
		Logger:            slogPrintf(logger, slog.LevelDebug),
		ErrorLogger:       slogPrintf(logger, slog.LevelDebug),
	})
	if err != nil {
		return nil, fmt.Errorf("kafka: join group %q: %w", cfg.Group, err)
	}
	runCtx, stop := context.WithCancel(l.ctx)
	c := &consumer{
		l:       l,
		cfg:     cfg,
		cg:      cg,
		logger:  logger,
		changed: make(chan struct{}),
		stop:    stop,
		done:    make(chan struct{}),
	}
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		cg.Close()
		stop()
		return nil, log.ErrClosed
	}
	l.consumers[c] = struct{}{}
	l.mu.Unlock()
	go c.run(runCtx)

	// Wait for the first assignment, so the caller starts with one. A
	// join can take a rebalance (other members rejoining) and a retry or
	// two; past that, the last error says why not.
	ctx, cancel := l.bound(ctx, l.cfg.RequestTimeout+l.cfg.RebalanceTimeout+l.cfg.SessionTimeout)
	defer cancel()
	for {
		c.mu.Lock()
		g, changed, joinErr := c.gen, c.changed, c.joinErr
		c.mu.Unlock()
		switch {
		case g != nil:
			return c, nil
		case joinErr != nil && permanent(joinErr):
			c.Close()
			return nil, fmt.Errorf("kafka: join group %q: %w", cfg.Group, joinErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			c.Close()
			if joinErr != nil {
				return nil, fmt.Errorf("kafka: join group %q: %w (last error: %v)", cfg.Group, ctx.Err(), joinErr)
			}
			return nil, fmt.Errorf("kafka: join group %q: %w", cfg.Group, ctx.Err())
		}
	}
}

// permanent reports whether an error joining a group will not go away by
// retrying, so JoinGroup should give up at once.
func permanent(err error) bool {
	for _, e := range []kafkago.Error{
		kafkago.InvalidSessionTimeout, kafkago.InvalidGroupId, kafkago.InconsistentGroupProtocol,
		kafkago.GroupAuthorizationFailed, kafkago.TopicAuthorizationFailed, kafkago.ClusterAuthorizationFailed,
		kafkago.SASLAuthenticationFailed, kafkago.UnsupportedVersion,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// slogPrintf adapts a slog.Logger to kafka-go's Printf-style Logger.
func slogPrintf(l *slog.Logger, level slog.Level) kafkago.Logger {
	return kafkago.LoggerFunc(func(format string, args ...any) {
		if l.Enabled(context.Background(), level) {
			l.Log(context.Background(), level, fmt.Sprintf(format, args...))
		}
	})
}

// consumer is log.Consumer on a kafka-go ConsumerGroup. Its run goroutine
// takes each generation the group hands out and installs it; Poll and
// Commit work on the installed generation. Poll and Commit are for one
// goroutine at a time; Assignment and Close may be called from any.
type consumer struct {
	l      *Log
	cfg    log.GroupConfig
	cg     *kafkago.ConsumerGroup
	logger *slog.Logger

	mu      sync.Mutex    // guards the fields below and every generation's pos
	gen     *generation   // the current generation; nil during a rebalance
	changed chan struct{} // closed and replaced when gen changes or the consumer closes
	closed  bool
	joinErr error // the last error from joining, cleared by a new generation
	rotate  int   // where the next Poll starts among the assigned partitions

	stop     context.CancelFunc // ends run
	done     chan struct{}      // closed when run has returned
	watchers sync.WaitGroup     // one per generation, see run

	closeOnce sync.Once
	closeErr  error
}

// generation is one generation of the group as this member sees it.
type generation struct {
	kg       *kafkago.Generation
	assigned []log.TopicPartition // sorted
	// pos is the next offset to poll per assigned partition: the committed
	// offset when the generation starts, or kafkago.FirstOffset or
	// LastOffset (negative) until the StartAt position is looked up.
	pos   map[log.TopicPartition]int64
	ended chan struct{} // closed when the generation ends
}

// run installs each generation the group hands out until the consumer
// closes. When a generation ends (a member joined or left), kafka-go
// rejoins and the next one arrives here; positions start again from the
// committed offsets that kafka-go fetched for it.
func (c *consumer) run(ctx context.Context) {
	defer close(c.done)
	defer c.watchers.Wait()
	for {
		kg, err := c.cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				return
			}
			c.logger.Debug("joining consumer group", "err", err)
			c.mu.Lock()
			c.joinErr = err
			c.notifyLocked()
			c.mu.Unlock()
			continue
		}
		g := &generation{kg: kg, pos: map[log.TopicPartition]int64{}, ended: make(chan struct{})}
		for topic, parts := range kg.Assignments {
			for _, p := range parts {
				tp := log.TopicPartition{Topic: topic, Partition: p.ID}
				g.assigned = append(g.assigned, tp)
				g.pos[tp] = p.Offset
			}
		}
		slices.SortFunc(g.assigned, compareTP)
		// Look up StartAt positions now, so that StartLatest means
		// "from when the member got the partition", not "from its first
		// Poll". A failure is retried by Poll.
		if err := c.resolve(ctx, g); err != nil {
			c.logger.Debug("looking up start offsets", "generation", kg.ID, "err", err)
		}
		c.logger.Debug("consumer group generation", "generation", kg.ID, "member", kg.MemberID, "assigned", g.assigned)
		c.mu.Lock()
		c.gen, c.joinErr = g, nil
		c.notifyLocked()
		c.mu.Unlock()
		c.watchers.Add(1)
		kg.Start(func(gctx context.Context) {
			defer c.watchers.Done()
			<-gctx.Done()
			close(g.ended)
			c.mu.Lock()
			if c.gen == g {
				c.gen = nil
				c.notifyLocked()
			}
			c.mu.Unlock()
		})
	}
}

// notifyLocked wakes everyone waiting for the generation to change.
func (c *consumer) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func compareTP(a, b log.TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return a.Partition - b.Partition
}

// resolve replaces the negative positions of g, partitions the group never
// committed, with the partition's earliest or latest offset.
func (c *consumer) resolve(ctx context.Context, g *generation) error {
	c.mu.Lock()
	need := map[string][]int{}
	kind := map[log.TopicPartition]int64{}
	for tp, off := range g.pos {
		if off < 0 {
			need[tp.Topic] = append(need[tp.Topic], tp.Partition)
			kind[tp] = off
		}
	}
	c.mu.Unlock()
	if len(need) == 0 {
		return nil
	}
	ctx, stop := c.l.bound(ctx, c.l.cfg.RequestTimeout)
	defer stop()
	for topic, ids := range need {
		ranges, err := c.l.offsetRanges(ctx, topic, ids)
		if err != nil {
			return err
		}
		c.mu.Lock()
		for _, r := range ranges {
			tp := log.TopicPartition{Topic: topic, Partition: r.ID}
			if g.pos[tp] != kind[tp] {
				continue // moved on meanwhile
			}
			if kind[tp] == kafkago.LastOffset {
				g.pos[tp] = r.Latest
			} else {
				g.pos[tp] = r.Earliest
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// Assignment returns the partitions this member owns in the current
// generation, sorted; none while the group is rebalancing.
func (c *consumer) Assignment() []log.TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == nil || c.closed {
		return nil
	}
	return slices.Clone(c.gen.assigned)
}

// Poll fetches from the assigned partitions at this member's positions:
// first without waiting, then, if nothing was there, with one fetch per
// leader that the broker parks until records arrive or opt.Wait passes.
func (c *consumer) Poll(ctx context.Context, opt log.ReadOptions) ([]log.Record, error) {
	opt = opt.WithDefaults()
	deadline := time.Now().Add(opt.Wait)
	for {
		c.mu.Lock()
		closed, g, changed := c.closed, c.gen, c.changed
		c.mu.Unlock()
		switch {
		case closed:
			return nil, fmt.Errorf("kafka: poll group %q: %w", c.cfg.Group, log.ErrGroupMemberClosed)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("kafka: poll group %q: %w", c.cfg.Group, ctx.Err())
		case c.l.closed.Load():
			return nil, fmt.Errorf("kafka: poll group %q: %w", c.cfg.Group, log.ErrClosed)
		}
		wait := time.Until(deadline)
		if g != nil && len(g.assigned) > 0 {
			recs, waited, err := c.pollGen(ctx, g, opt, deadline)
			if err != nil || len(recs) > 0 {
				return recs, err
			}
			if wait = time.Until(deadline); wait <= 0 {
				return nil, nil
			}
			if waited && !isClosed(g.ended) {
				continue // the broker waited its longest; ask again
			}
			if !waited {
				// Nothing could be fetched (positions or leaders not
				// known yet, a partition error): pause before retrying.
				wait = min(wait, 100*time.Millisecond)
			}
		}
		// Rebalancing, nothing assigned, or a pause: wait for a change.
		if wait <= 0 {
			return nil, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-changed:
			t.Stop()
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("kafka: poll group %q: %w", c.cfg.Group, ctx.Err())
		}
	}
}

// pollGen is one round of Poll within generation g. It returns no records
// and no error when nothing arrived before the deadline or g ended; waited
// reports whether a broker parked a fetch for the time left.
func (c *consumer) pollGen(ctx context.Context, g *generation, opt log.ReadOptions, deadline time.Time) (recs []log.Record, waited bool, err error) {
	if err := c.resolve(ctx, g); err != nil {
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("kafka: poll group %q: %w", c.cfg.Group, ctx.Err())
		}
		c.logger.Warn("looking up start offsets", "err", err)
	}
	c.mu.Lock()
	n := len(g.assigned)
	start := c.rotate % n
	c.rotate++
	var parts []fetchPart
	for i := range n {
		tp := g.assigned[(start+i)%n]
		if off := g.pos[tp]; off >= 0 {
			parts = append(parts, fetchPart{tp: tp, offset: off})
		}
	}
	c.mu.Unlock()
	if len(parts) == 0 {
		return nil, false, nil
	}
	leaders := map[log.TopicPartition]int{}
	looked := map[string]bool{}
	for _, p := range parts {
		if looked[p.tp.Topic] {
			continue
		}
		looked[p.tp.Topic] = true
		t, err := c.l.topicMeta(ctx, p.tp.Topic)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, fmt.Errorf("kafka: poll group %q: %w", c.cfg.Group, ctx.Err())
			}
			c.logger.Warn("metadata for poll", "topic", p.tp.Topic, "err", err)
			continue
		}
		for _, tp := range t.Partitions {
			leaders[log.TopicPartition{Topic: p.tp.Topic, Partition: tp.ID}] = tp.Leader.ID
		}
	}
	known := parts[:0]
	for _, p := range parts {
		if id, ok := leaders[p.tp]; ok {
			p.leader = id
			known = append(known, p)
		}
	}
	if parts = known; len(parts) == 0 {
		return nil, false, nil
	}

	// Stop a parked fetch when the generation ends: its partitions may
	// belong to another member now.
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-g.ended:
			cancel()
		case <-gctx.Done():
		}
	}()

	lim := limits{opt.MaxRecords, opt.MaxBytes}
	ictx, stop := c.l.bound(gctx, c.l.cfg.RequestTimeout)
	sent := time.Now()
	res, err := c.l.fetch(ictx, parts, 0, 0, lim, nil)
	stop()
	if err == nil && !hasRecords(res) && !hasErrors(res) {
		if wait := min(time.Until(deadline), maxWaitChunk); wait > 0 {
			wctx, stop := c.l.bound(gctx, wait+c.l.cfg.RequestTimeout)
			res, err = c.l.fetch(wctx, parts, 1, wait, lim, nil)
			stop()
			waited = true
		}
	}
	switch {
	case ctx.Err() != nil:
		return nil, false, fmt.Errorf("kafka: poll group %q: %w", c.cfg.Group, ctx.Err())
	case gctx.Err() != nil:
		return nil, waited, nil // the generation ended
	case err != nil && (staleMetadata(err) || connectionLost(err)):
		c.logger.Debug("retrying fetch", "err", err)
		c.l.refresh(sent)
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("kafka: poll group %q: %w", c.cfg.Group, err)
	}

	// Take records partition by partition, in the rotated order, within
	// the bounds; the first record always.
	byTP := map[log.TopicPartition]fetched{}
	for _, f := range res {
		byTP[f.tp] = f
	}
	var out []log.Record
	size := 0
	next := map[log.TopicPartition]int64{}
	full := false
	for _, p := range parts {
		f, ok := byTP[p.tp]
		if !ok {
			continue
		}
		if f.err != nil {
			c.partitionError(ctx, g, f, sent)
			continue
		}
		for _, r := range f.recs {
			if len(out) > 0 && (len(out) >= opt.MaxRecords || size+r.Size() > opt.MaxBytes) {
				full = true
				break
			}
			out = append(out, r)
			size += r.Size()
			next[p.tp] = r.Offset + 1
		}
		if full {
			break
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != g {
		// A rebalance happened while fetching; the new owner of these
		// partitions starts from the committed offsets, and so does this
		// member if it kept them. Returning the records is still
		// at-least-once.
		return out, waited, nil
	}
	for tp, off := range next {
		g.pos[tp] = off
	}
	return out, waited, nil
}

func hasErrors(fs []fetched) bool {
	for _, f := range fs {
		if f.err != nil {
			return true
		}
	}
	return false
}

// partitionError handles a partition's fetch error during Poll. A position
// outside the retained range moves to the StartAt end, as Kafka's
// auto.offset.reset does; metadata errors refresh the transport.
func (c *consumer) partitionError(ctx context.Context, g *generation, f fetched, sent time.Time) {
	switch {
	case errors.Is(f.err, kafkago.OffsetOutOfRange):
		ctx, stop := c.l.bound(ctx, c.l.cfg.RequestTimeout)
		defer stop()
		r, err := c.l.offsetRanges(ctx, f.tp.Topic, []int{f.tp.Partition})
		if err != nil {
			c.logger.Warn("looking up offsets after out-of-range fetch", "partition", f.tp.String(), "err", err)
			return
		}
		to := r[0].Earliest
		if c.cfg.StartAt == log.StartLatest {
			to = r[0].Latest
		}
		c.logger.Warn("consumer position out of range; resetting", "partition", f.tp.String(),
			"offset", f.offset, "earliest", r[0].Earliest, "latest", r[0].Latest, "reset_to", to)
		c.mu.Lock()
		if c.gen == g && g.pos[f.tp] == f.offset {
			g.pos[f.tp] = to
		}
		c.mu.Unlock()
	case staleMetadata(f.err) || errors.Is(f.err, kafkago.UnknownTopicOrPartition):
		c.l.refresh(sent)
	default:
		c.logger.Warn("fetch error", "partition", f.tp.String(), "offset", f.offset, "err", f.err)
	}
}

// Commit stores, per partition among recs, the offset after the highest
// record: synchronously, in the generation the member is in. Only the
// partitions the member owns are committed; Kafka would accept the others
// too and so move back another member's position. If recs name partitions
// the member does not own (a rebalance gave them away since the records
// were polled), Commit commits the rest and returns an error naming them:
// their records will be delivered again to their owner, which
// at-least-once allows.
func (c *consumer) Commit(ctx context.Context, recs ...log.Record) error {
	offsets := map[log.TopicPartition]int64{}
	for _, r := range recs {
		tp := log.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if off, ok := offsets[tp]; !ok || r.Offset+1 > off {
			offsets[tp] = r.Offset + 1
		}
	}
	if len(offsets) == 0 {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return fmt.Errorf("kafka: commit group %q: %w", c.cfg.Group, log.ErrGroupMemberClosed)
		}
		return nil
	}
	ctx, stop := c.l.bound(ctx, c.l.cfg.RequestTimeout+c.l.cfg.RebalanceTimeout)
	defer stop()
	var prev *generation
	for {
		g, err := c.waitGeneration(ctx, prev)
		if err != nil {
			return fmt.Errorf("kafka: commit group %q: %w", c.cfg.Group, err)
		}
		owned := map[string]map[int]int64{}
		var lost []log.TopicPartition
		c.mu.Lock()
		for tp, off := range offsets {
			if _, ok := g.pos[tp]; !ok {
				lost = append(lost, tp)
				continue
			}
			if owned[tp.Topic] == nil {
				owned[tp.Topic] = map[int]int64{}
			}
			owned[tp.Topic][tp.Partition] = off
		}
		c.mu.Unlock()
		if len(owned) > 0 {
			err = c.commitIn(ctx, g, owned)
		}
		switch {
		case err == nil && len(lost) == 0:
			return nil
		case err == nil:
			slices.SortFunc(lost, compareTP)
			return fmt.Errorf("kafka: commit group %q: %w: %v (a rebalance moved them); their offsets were not committed and their records will be delivered again", c.cfg.Group, log.ErrNotAssigned, lost)
		case ctx.Err() != nil:
			return fmt.Errorf("kafka: commit group %q: %w", c.cfg.Group, ctxErr(ctx, err))
		case rebalancing(err) || isClosed(g.ended):
			prev = g // commit in the next generation, what is still owned then
		default:
			return fmt.Errorf("kafka: commit group %q: %w", c.cfg.Group, err)
		}
	}
}

// waitGeneration returns the current generation once there is one other
// than prev.
func (c *consumer) waitGeneration(ctx context.Context, prev *generation) (*generation, error) {
	for {
		c.mu.Lock()
		closed, g, changed := c.closed, c.gen, c.changed
		c.mu.Unlock()
		if closed {
			return nil, log.ErrGroupMemberClosed
		}
		if g != nil && g != prev {
			return g, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// commitIn commits offsets in generation g. kafka-go's commit takes no
// context; it is bounded by Config.RequestTimeout, and ctx only stops the
// wait for it.
func (c *consumer) commitIn(ctx context.Context, g *generation, offsets map[string]map[int]int64) error {
	done := make(chan error, 1)
	go func() { done <- g.kg.CommitOffsets(offsets) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rebalancing reports whether a commit failed because the group moved to
// a new generation.
func rebalancing(err error) bool {
	return errors.Is(err, kafkago.RebalanceInProgress) || errors.Is(err, kafkago.IllegalGeneration) ||
		errors.Is(err, kafkago.UnknownMemberId) || errors.Is(err, kafkago.NotCoordinatorForGroup)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Close leaves the group, so the coordinator gives this member's
// partitions to the others at once, and waits for the member's goroutines
// to end.
func (c *consumer) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.notifyLocked()
		c.mu.Unlock()
		c.closeErr = c.cg.Close() // leaves the group
		c.stop()
		<-c.done
		c.l.mu.Lock()
		delete(c.l.consumers, c)
		c.l.mu.Unlock()
	})
	return c.closeErr
}
