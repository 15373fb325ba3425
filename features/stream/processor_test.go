package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openDisk(t testing.TB, dir string) *disk.Log {
	t.Helper()
	l, err := disk.Open(disk.Config{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// running is a processor running in this process.
type running struct {
	p    *Processor
	stop context.CancelFunc
	done chan error
}

func startProcessor(t *testing.T, l log.Log, def *Definition, dir string, maxRecords int) *running {
	t.Helper()
	p, err := NewProcessor(context.Background(), ProcessorConfig{Log: l, Definition: def, Dir: dir,
		MaxRecords: maxRecords, PollWait: 50 * time.Millisecond, Logger: quiet, Emit: EmitEvery})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	return r
}

// halt stops the processor and closes its store.
func (r *running) halt(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the processor did not stop within a minute of its context's end")
	}
	if err := r.p.Close(); err != nil {
		t.Error(err)
	}
}

// tableHas waits until the feature table holds n records.
func tableHas(t *testing.T, l log.Log, topic string, n int) {
	t.Helper()
	waitFor(t, 2*time.Minute, func() (bool, string) {
		got := 0
		for _, recs := range readAll(t, l, topic) {
			got += len(recs)
		}
		return got >= n, fmt.Sprintf("the feature table holds %d of %d records", got, n)
	})
}

func TestProcessorMatchesOfflineRun(t *testing.T) {
	def := procDef(t)
	dir := t.TempDir()
	l := openDisk(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(1, 800, 25, time.UnixMilli(1_700_000_000_000)))
	exp := offline(t, def, l)
	r := startProcessor(t, l, def, filepath.Join(dir, "state"), 64)
	tableHas(t, l, "features.cards.table", len(exp.table))
	checkMetrics(t, r.p, len(exp.table))
	r.halt(t)
	got, err := readTable(t, l, "features.cards.table")
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, exp, got)
	checkChangelog(t, def, l, exp)
	checkStates(t, def, filepath.Join(dir, "state"), exp, readAll(t, l, "tx"))
	if late, dropped := counter(r.p, "late"), counter(r.p, "dropped"); late == 0 || dropped == 0 {
		t.Errorf("the events had %v late and %v dropped; the test wants some of each", late, dropped)
	}
}

func counter(p *Processor, outcome string) float64 {
	return testutil.ToFloat64(p.metrics.Events.WithLabelValues(outcome))
}

func TestProcessorRestoresFromChangelog(t *testing.T) {
	def := procDef(t)
	dir := t.TempDir()
	l := openDisk(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	events := makeEvents(2, 1200, 30, time.UnixMilli(1_700_000_000_000))
	appendEvents(t, l, events[:700])
	state := filepath.Join(dir, "state")
	r := startProcessor(t, l, def, state, 50)
	tableHas(t, l, "features.cards.table", len(offline(t, def, l).table))
	r.halt(t)

	// The machine is replaced: its store is gone; the group's offsets and
	// the changelog are all that is left.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, events[700:])
	exp := offline(t, def, l)
	r = startProcessor(t, l, def, state, 50)
	tableHas(t, l, "features.cards.table", len(exp.table))
	r.halt(t)
	got, err := readTable(t, l, "features.cards.table")
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, exp, got)
	checkChangelog(t, def, l, exp)
	checkStates(t, def, state, exp, readAll(t, l, "tx"))
}

func TestProcessorRefusesAStoreOfAnotherDefinition(t *testing.T) {
	def := procDef(t)
	dir := t.TempDir()
	s, err := OpenStore(dir, NewAggregator(def))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir, NewAggregator(def)); !errors.Is(err, ErrStoreLocked) {
		t.Errorf("opening a store that is open: %v; want ErrStoreLocked", err)
	}
	s.Close()
	other := *def
	other.Features = def.Features[:2]
	_, err = OpenStore(dir, NewAggregator(&other))
	if err == nil || !strings.Contains(err.Error(), "another definition or layout") {
		t.Fatalf("opening a store under a changed definition: %v; want a refusal", err)
	}
}

// flakyLog hands out consumers that, now and then, report no assignment
// (as during a rebalance, after which the group delivers again from the
// committed offsets: here, the last poll's records) and leave a record out
// of a poll (as a group's position past records never applied would).
type flakyLog struct{ log.Log }

func (f flakyLog) JoinGroup(ctx context.Context, cfg log.GroupConfig) (log.Consumer, error) {
	c, err := f.Log.JoinGroup(ctx, cfg)
	return &flakyConsumer{Consumer: c}, err
}

type flakyConsumer struct {
	log.Consumer
	polls, asks int
	last        []log.Record
	rebalanced  bool
}

func (c *flakyConsumer) Poll(ctx context.Context, opt log.ReadOptions) ([]log.Record, error) {
	if c.rebalanced {
		c.rebalanced = false
		return c.last, nil
	}
	recs, err := c.Consumer.Poll(ctx, opt)
	c.last = recs
	if c.polls++; c.polls%3 == 0 {
		// Leave out a record followed by one of its partition.
		for i := 0; i+1 < len(recs); i++ {
			if recs[i].Partition == recs[i+1].Partition {
				return append(recs[:i:i], recs[i+1:]...), err
			}
		}
	}
	return recs, err
}

func (c *flakyConsumer) Assignment() []log.TopicPartition {
	if c.asks++; c.asks%7 == 0 || c.asks%11 == 0 {
		c.rebalanced = true
		return nil
	}
	return c.Consumer.Assignment()
}

func TestProcessorSurvivesRebalancesAndSkippedRecords(t *testing.T) {
	def := procDef(t)
	dir := t.TempDir()
	l := openDisk(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(5, 900, 20, time.UnixMilli(1_700_000_000_000)))
	exp := offline(t, def, l)
	r := startProcessor(t, flakyLog{l}, def, filepath.Join(dir, "state"), 16)
	tableHas(t, l, "features.cards.table", len(exp.table))
	waitFor(t, time.Minute, func() (bool, string) { return committedAll(t, l) })
	r.halt(t)
	got, err := readTable(t, l, "features.cards.table")
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, exp, got)
	checkChangelog(t, def, l, exp)
	checkStates(t, def, filepath.Join(dir, "state"), exp, readAll(t, l, "tx"))
}

// checkMetrics gathers the processor's collectors as a registry would and
// checks what they count.
func checkMetrics(t *testing.T, p *Processor, published int) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Metrics().Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"flint_features_events_total", "flint_features_published_total", "flint_features_commits_total",
		"flint_features_new_keys_total", "flint_features_lag_records", "flint_features_state_bytes"} {
		if !names[want] {
			t.Errorf("the processor's collectors have no %s (they have %v)", want, names)
		}
	}
	if got := testutil.ToFloat64(p.metrics.Published.WithLabelValues("features.cards.table")); got != float64(published) {
		t.Errorf("flint_features_published_total{topic=table} is %v; the table holds %d", got, published)
	}
	if got := testutil.ToFloat64(p.metrics.StateBytes); got <= 0 {
		t.Errorf("flint_features_state_bytes is %v; want the store's size", got)
	}
}

// shortLog reports the feature table's partitions one record shorter than
// they are, as a log that lost its acknowledged tail would.
type shortLog struct{ log.Log }

func (s shortLog) Offsets(ctx context.Context, topic string, q int) (log.PartitionInfo, error) {
	pi, err := s.Log.Offsets(ctx, topic, q)
	if topic == "features.cards.table" && pi.Latest > 0 {
		pi.Latest--
	}
	return pi, err
}

func TestProcessorRefusesALogThatLostItsOutputs(t *testing.T) {
	def := procDef(t)
	dir := t.TempDir()
	l := openDisk(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(8, 200, 10, time.UnixMilli(1_700_000_000_000)))
	r := startProcessor(t, l, def, filepath.Join(dir, "state"), 50)
	tableHas(t, l, "features.cards.table", len(offline(t, def, l).table))
	r.halt(t)
	_, err := NewProcessor(context.Background(), ProcessorConfig{Log: shortLog{l}, Definition: def, Dir: filepath.Join(dir, "state"), Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "the log lost acknowledged records") {
		t.Fatalf("a processor over a log that lost published outputs: %v; want a refusal", err)
	}
}
