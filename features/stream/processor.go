package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flintml/flint/log"
	"github.com/prometheus/client_golang/prometheus"
)

// ProcessorConfig configures a Processor. Zero fields take the defaults
// given.
type ProcessorConfig struct {
	Log        log.Log
	Definition *Definition
	// Dir is the state store's directory (created if missing). Required.
	Dir string
	// Group is the consumer group; default "features.NAME".
	Group string
	// Changelog and Table name the changelog and feature-table topics;
	// default "features.NAME.changelog" and "features.NAME.table". They are
	// created, with the source topic's partition count, if missing.
	Changelog, Table string
	// MaxRecords bounds the records of one poll, and so of one commit;
	// default 1000.
	MaxRecords int
	// PollWait is how long a poll waits for records; default 500ms.
	PollWait time.Duration
	// RestoreSkew is how far the clocks of the source's writers and the
	// processors may disagree: a processor that takes a partition over
	// without its store looks for its predecessor's uncommitted outputs
	// from this long before the first uncommitted source record's time.
	// Default 10 minutes.
	RestoreSkew time.Duration
	// Logger receives restores and rebalances; nil means slog.Default().
	Logger *slog.Logger
	// Repartition makes this processor the repartition stage of a
	// definition whose source is not keyed by its key field
	// (source.repartition): it consumes the source topic and appends each
	// record that decodes, unchanged (value, timestamp), keyed by its key
	// field, to Definition.EventTopic, exactly once by the same means as
	// the feature table; it keeps no states. Its defaults are the group
	// "features.NAME.repartition" and no changelog; Table is the event
	// topic. The aggregating processor then consumes the event topic.
	Repartition bool
	// Emit says which values go to the feature table: EmitLatest (the
	// default) the newest value of every key a poll changed, once per
	// poll, as Kafka Streams' record caches forward a table's updates;
	// EmitEvery the value after every event applied.
	Emit Emit
	// CacheKeys bounds how many keys' committed states the processor keeps
	// decoded in memory between batches, beside the store; default 10,000
	// (about a kilobyte each for a few windowed features). A key read
	// again within the bound costs no store read or decode.
	CacheKeys int
}

// Emit is how often the feature table gets a key's values.
type Emit uint8

const (
	// EmitLatest publishes, once per poll (one commit), the values of every
	// key the poll changed as of its last event in it. Each record is the
	// key's value after that event, exactly as EmitEvery would have
	// published it; the values in between are left out. A restart may
	// publish one such intermediate value more than an uninterrupted run
	// (its polls end elsewhere), never a wrong one or a key's newest one
	// twice.
	EmitLatest Emit = iota
	// EmitEvery publishes the key's values after every event applied.
	EmitEvery
)

// ParseEmit reads "latest" or "every".
func ParseEmit(s string) (Emit, error) {
	switch s {
	case "latest":
		return EmitLatest, nil
	case "every":
		return EmitEvery, nil
	}
	return 0, fmt.Errorf("stream: emit %q is neither latest nor every", s)
}

func (c *ProcessorConfig) defaults() error {
	if c.Log == nil || c.Definition == nil || c.Dir == "" {
		return errors.New("stream: a processor needs a log, a definition and a state directory")
	}
	name := c.Definition.Name
	if c.Repartition {
		if !c.Definition.Source.Repartition {
			return fmt.Errorf("stream: definition %q: a repartition stage needs source.repartition: true", name)
		}
		if c.Group == "" {
			c.Group = "features." + name + ".repartition"
		}
		c.Changelog, c.Table = "", c.Definition.EventTopic()
	}
	if c.Group == "" {
		c.Group = "features." + name
	}
	if c.Changelog == "" && !c.Repartition {
		c.Changelog = "features." + name + ".changelog"
	}
	if c.Table == "" {
		c.Table = "features." + name + ".table"
	}
	if c.MaxRecords <= 0 {
		c.MaxRecords = 1000
	}
	if c.PollWait <= 0 {
		c.PollWait = 500 * time.Millisecond
	}
	if c.CacheKeys <= 0 {
		c.CacheKeys = 10000
	}
	if c.RestoreSkew <= 0 {
		c.RestoreSkew = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Processor is the online side of a definition: it consumes the source
// topic in a consumer group, applies each event to its key's state in a
// Store, writes every changed state to the changelog topic and every
// event's new values to the feature-table topic, exactly once (see the
// package documentation, "The processor").
type Processor struct {
	cfg     ProcessorConfig
	agg     *Aggregator
	store   *Store
	dec     *RecordDecoder
	metrics *Metrics
	nIn     int            // source partitions
	nOut    map[string]int // output topic → partitions
	input   string         // the topic consumed: the source, or the event topic after a repartition stage
	tables  *Tables        // the definition's tables, read up to their ends before each batch; nil for none

	owned map[int]*owned     // prepared source partitions → their progress
	marks map[markSpot]int64 // output partition → end of our last append there
	// Outputs already in the log beyond the committed point, found when
	// partitions were prepared: feature-table records by source position,
	// changelog records by key (the highest source offset published).
	published   map[SourcePos]bool
	clPublished map[string]int64
	lastLag     time.Time
	ev          Event     // the event being applied
	vals        []float64 // its key's values
	tv          []byte    // scratch for an output value
	counts      [nOutcomes]prometheus.Counter
	cache       stateCache // committed states of recently changed keys
	batch       batch      // the batch being processed, its memory reused
	// crashPoint, when set (by tests), is called at each point of a batch
	// where a crash leaves something half done: "table" and "changelog"
	// after those appends, "commit" after the store's commit.
	crashPoint func(point string)
}

// owned is one prepared source partition: the next offset to apply.
type owned struct{ next int64 }

// NewProcessor opens the state store and creates the output topics.
func NewProcessor(ctx context.Context, cfg ProcessorConfig) (*Processor, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	def := cfg.Definition
	input := def.EventTopic()
	if cfg.Repartition {
		input = def.Source.Topic
	}
	info, err := cfg.Log.Describe(ctx, input)
	if err != nil && errors.Is(err, log.ErrUnknownTopic) && input != def.Source.Topic {
		// The event topic of a repartitioned source: as many partitions as
		// the source, created by whichever stage starts first.
		if info, err = cfg.Log.Describe(ctx, def.Source.Topic); err == nil {
			err = cfg.Log.CreateTopic(ctx, input, log.TopicConfig{Partitions: len(info.Partitions)})
			if err == nil || errors.Is(err, log.ErrTopicExists) {
				info, err = cfg.Log.Describe(ctx, input)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream: definition %q: describe source topic %q: %w", def.Name, input, err)
	}
	p := &Processor{cfg: cfg, input: input, agg: NewAggregator(def), dec: NewRecordDecoder(def), nIn: len(info.Partitions),
		nOut: map[string]int{}, owned: map[int]*owned{}, marks: map[markSpot]int64{},
		published: map[SourcePos]bool{}, clPublished: map[string]int64{},
		ev: def.NewEvent(), vals: make([]float64, len(def.Features))}
	if len(def.Tables) > 0 && !cfg.Repartition {
		p.tables = NewTables(def)
	}
	for _, t := range []string{cfg.Changelog, cfg.Table} {
		if t == "" {
			continue // a repartition stage keeps no changelog
		}
		err := cfg.Log.CreateTopic(ctx, t, log.TopicConfig{Partitions: p.nIn})
		if err != nil && !errors.Is(err, log.ErrTopicExists) {
			return nil, fmt.Errorf("stream: definition %q: create topic %q: %w", def.Name, t, err)
		}
		ti, err := cfg.Log.Describe(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("stream: definition %q: describe topic %q: %w", def.Name, t, err)
		}
		p.nOut[t] = len(ti.Partitions)
	}
	if p.store, err = OpenStore(cfg.Dir, p.agg); err != nil {
		return nil, err
	}
	name := def.Name
	if cfg.Repartition {
		name += ".repartition" // the stage's metrics stand beside the aggregating processor's
	}
	p.metrics = newMetrics(name, p.store)
	for o, n := range outcomeNames {
		if n != "" {
			p.counts[o] = p.metrics.Events.WithLabelValues(n)
		}
	}
	p.cache = newStateCache(cfg.CacheKeys)
	if err := p.initMarks(ctx); err != nil {
		_ = p.store.Close()
		return nil, err
	}
	return p, nil
}

// initMarks loads the store's marks, and records the current end of every
// output partition that has none before anything is appended to it. A
// partition that ends before its mark lost records the log had
// acknowledged (the embedded log's interval fsync and a machine crash):
// outputs the store counts as published are gone, and the processor
// refuses to go on with a gap.
func (p *Processor) initMarks(ctx context.Context) error {
	fresh := map[markSpot]int64{}
	for t, n := range p.nOut {
		for q := range n {
			m, ok, err := p.store.Mark(t, q)
			if err != nil {
				return err
			}
			pi, err := p.cfg.Log.Offsets(ctx, t, q)
			if err != nil {
				return fmt.Errorf("stream: read the end of %s/%d: %w", t, q, err)
			}
			if ok && pi.Latest < m {
				return fmt.Errorf("stream: %s/%d ends at offset %d, but the state store in %s has published up to %d there: the log lost acknowledged records (a machine crash with the embedded log's interval fsync?); delete the state directory, the topics %s and %s and the group %s to rebuild from the source",
					t, q, pi.Latest, p.store.Dir(), m, p.cfg.Table, p.cfg.Changelog, p.cfg.Group)
			}
			if !ok {
				m = pi.Latest
				fresh[markSpot{t, q}] = m
			}
			p.marks[markSpot{t, q}] = m
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	return p.store.commit(storeCommit{Marks: fresh})
}

// Store returns the processor's state store.
func (p *Processor) Store() *Store { return p.store }

// Metrics returns the processor's metrics.
func (p *Processor) Metrics() *Metrics { return p.metrics }

// Close closes the state store. Call it after Run returns.
func (p *Processor) Close() error { return p.store.Close() }

// Run consumes the source until ctx is done (then it returns nil) or an
// error stops it. After an error, close the processor and start a new one:
// it resumes exactly where the store's last commit left off.
func (p *Processor) Run(ctx context.Context) error {
	def := p.cfg.Definition
	c, err := p.cfg.Log.JoinGroup(ctx, log.GroupConfig{Group: p.cfg.Group, Topics: []string{p.input}})
	if err != nil {
		return fmt.Errorf("stream: definition %q: join group %q: %w", def.Name, p.cfg.Group, err)
	}
	defer c.Close()
	for ctx.Err() == nil {
		recs, err := c.Poll(ctx, log.ReadOptions{MaxRecords: p.cfg.MaxRecords, Wait: p.cfg.PollWait})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stream: definition %q: poll %q: %w", def.Name, p.input, err)
		}
		if err := p.track(ctx, c.Assignment(), recs); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while preparing partitions
			}
			return err
		}
		if err := p.process(ctx, c, recs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		p.measureLag(ctx)
	}
	return nil
}

// track forgets partitions no longer assigned and prepares the newly
// assigned ones (and any that records arrived from for the first time).
func (p *Processor) track(ctx context.Context, assigned []log.TopicPartition, recs []log.Record) error {
	keep := map[int]bool{}
	for _, tp := range assigned {
		keep[tp.Partition] = true
	}
	for q := range p.owned {
		if !keep[q] {
			delete(p.owned, q)
			p.cfg.Logger.Info("features: partition revoked", "definition", p.cfg.Definition.Name, "partition", q)
		}
	}
	// Every newly assigned partition is prepared at once, before any
	// batch appends outputs a later preparation would have to read past.
	var fresh []int
	seen := map[int]bool{}
	for _, tp := range assigned {
		if q := tp.Partition; p.owned[q] == nil && !seen[q] {
			seen[q] = true
			fresh = append(fresh, q)
		}
	}
	for i := range recs {
		q := recs[i].Partition
		if p.owned[q] == nil && !seen[q] {
			seen[q] = true
			fresh = append(fresh, q)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	return p.prepare(ctx, fresh)
}
