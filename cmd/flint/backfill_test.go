package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/log"
)

// flint features backfill labels every event of the definition's own
// topic with the features just before it, to a file or a topic; the
// count before the first event of a card is 0.
func TestFeaturesBackfill(t *testing.T) {
	_, defs, logSpec := featuresFixture(t)
	out := mustRun(t, "", "--log", logSpec, "features", "backfill", "-f", defs, "--labels", "tx")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 300 {
		t.Fatalf("%d lines, want 300", len(lines))
	}
	first := map[string]bool{}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		card := m["card"].(string)
		if _, ok := m["tx_10m"]; !ok {
			t.Fatalf("no tx_10m in %s", line)
		}
		if !first[card] && m["tx_10m"].(float64) != 0 {
			t.Errorf("the first event of %s counts %v earlier events", card, m["tx_10m"])
		}
		first[card] = true
	}
	_, errOut, err := run(t, "", "--log", logSpec, "features", "backfill", "-f", defs, "--labels", "tx", "--to-topic", "tx.asof")
	if err != nil || !strings.Contains(errOut, "300 records of tx joined with cards, appended to tx.asof") {
		t.Fatalf("--to-topic: %v %s", err, errOut)
	}
	l, err := openLogReadOnly(context.Background(), logSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.Describe(context.Background(), "tx.asof")
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, p := range info.Partitions {
		recs, err := l.Read(context.Background(), "tx.asof", p.ID, 0, log.ReadOptions{MaxRecords: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 && log.Partition(recs[0].Key, len(info.Partitions)) != p.ID {
			t.Errorf("record keyed %q in partition %d", recs[0].Key, p.ID)
		}
		n += p.Latest
	}
	if n != 300 {
		t.Errorf("tx.asof holds %d records", n)
	}
	_, errOut, err = run(t, "", "--log", logSpec, "features", "backfill", "-f", defs)
	if err == nil || !strings.Contains(errOut+err.Error(), "--labels are required") {
		t.Errorf("no --labels: %v %s", err, errOut)
	}
	// --out: the file appears whole, replacing an older one; a failed run
	// leaves the older one and no partial file beside it.
	outFile := filepath.Join(t.TempDir(), "set.jsonl")
	if err := os.WriteFile(outFile, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "--log", logSpec, "features", "backfill", "-f", defs, "--labels", "tx", "--out", outFile)
	if b, err := os.ReadFile(outFile); err != nil || strings.Count(string(b), "\n") != 300 || !strings.HasPrefix(string(b), "{") {
		t.Errorf("--out wrote %d lines (%v), want the 300 joined records", strings.Count(string(b), "\n"), err)
	}
	// --out naming a directory is refused before anything is joined.
	_, errOut, err = run(t, "", "--log", logSpec, "features", "backfill", "-f", defs, "--labels", "tx", "--out", filepath.Dir(outFile))
	if want := "--out " + filepath.Dir(outFile) + ": " + filepath.Dir(outFile) + " is a directory"; err == nil || !strings.Contains(errOut+err.Error(), want) {
		t.Errorf("--out a directory: %v %s, want %q", err, errOut, want)
	}
	// A definition whose topic is not in the log names that topic: here
	// the repartition topic its processor writes, which does not exist
	// yet, though its source topic does.
	repart := filepath.Join(t.TempDir(), "repart.yaml")
	if err := os.WriteFile(repart, []byte(strings.Replace(featuresDefs, "  topic: tx\n", "  topic: tx\n  repartition: true\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, err = run(t, "", "--log", logSpec, "features", "backfill", "-f", repart, "--labels", "tx")
	if want := "features.cards.repartition"; err == nil || !strings.Contains(errOut+err.Error(), want) || !strings.Contains(errOut+err.Error(), "not in the log") {
		t.Errorf("a missing repartition topic: %v %s, want it named (%s)", err, errOut, want)
	}
	_, errOut, err = run(t, "", "--log", logSpec, "features", "backfill", "-f", defs, "--labels", "nosuch")
	if want := "--labels nosuch: no such topic in the log " + logSpec; err == nil || !strings.Contains(errOut+err.Error(), want) {
		t.Errorf("an unknown label topic: %v %s, want %q", err, errOut, want)
	}
}

// planFixtureJoin parses featuresFixture's definitions file defs and
// plans the backfill join of its label topic "tx" over l.
func planFixtureJoin(t *testing.T, ctx context.Context, l log.Log, defs string) (*stream.Definition, []cluster.Source) {
	t.Helper()
	data, err := os.ReadFile(defs)
	if err != nil {
		t.Fatal(err)
	}
	def, err := stream.Parse(defs, data)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := cluster.PlanLog(ctx, l, "tx", cluster.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := stream.Enrichment{Definition: string(data), File: defs, Key: def.Source.Key}
	sources, err := stream.PlanJoin(ctx, l, labels, e, def)
	if err != nil {
		t.Fatal(err)
	}
	return def, sources
}

// joinInOrder hands the values over in the sources' order, the same as
// reading the joins one after another, and stops every join when emit
// fails or the context ends, returning that error instead of hanging on
// the joins that are waiting to hand their values over.
func TestJoinInOrder(t *testing.T) {
	_, defs, logSpec := featuresFixture(t)
	ctx := context.Background()
	l, err := openLogReadOnly(ctx, logSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, sources := planFixtureJoin(t, ctx, l, defs)
	if len(sources) < 2 {
		t.Fatalf("%d sources: the test needs several partitions", len(sources))
	}
	var want []string
	for _, src := range sources {
		if err := cluster.EachValue(ctx, l, src, func(v []byte, _ func() string) error {
			want = append(want, string(v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := joinInOrder(ctx, l, sources, func(v []byte) error {
		got = append(got, string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%d values, want the %d of the joins read in order", len(got), len(want))
	}

	stop := errors.New("the writer failed")
	n := 0
	if err := joinInOrder(ctx, l, sources, func([]byte) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || n != 10 {
		t.Errorf("emit failing at the 10th value: %v after %d values", err, n)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := joinInOrder(canceled, l, sources, func([]byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("a canceled context: %v", err)
	}

	// A backfill to --out whose join fails part way (the log failing after
	// its first read) leaves the older file as it was and no partial one.
	outFile := filepath.Join(t.TempDir(), "set.jsonl")
	if err := os.WriteFile(outFile, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := &failingReads{Log: l, after: 1}
	if _, err := backfillToFile(ctx, streams{}, broken, sources, outFile); !errors.Is(err, errReadFailed) {
		t.Fatalf("a log failing part way: %v", err)
	}
	if b, err := os.ReadFile(outFile); err != nil || string(b) != "old\n" {
		t.Errorf("after a failed join the file holds %q (%v), want the older one", b, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(outFile)); len(ents) != 1 {
		t.Errorf("after a failed join the directory holds %d entries, want only the older file", len(ents))
	}
}

var errReadFailed = errors.New("the disk failed")

// failingReads is a log whose reads fail after the first after of them.
type failingReads struct {
	log.Log
	after int64
	reads atomic.Int64
}

func (f *failingReads) Read(ctx context.Context, topic string, partition int, from int64, o log.ReadOptions) ([]log.Record, error) {
	if f.reads.Add(1) > f.after {
		return nil, errReadFailed
	}
	return f.Log.Read(ctx, topic, partition, from, o)
}

// A --to-topic backfill whose append fails part way says how many joined
// records landed in the topic (those Append set a Topic on), so a rerun
// knows what is already there.
func TestBackfillToTopicCountsWhatLanded(t *testing.T) {
	_, defs, logSpec := featuresFixture(t)
	ctx := context.Background()
	l, err := openLog(ctx, logSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	def, sources := planFixtureJoin(t, ctx, l, defs)
	half := &halfAppends{Log: l}
	o := backfillOptions{labels: "tx", toTopic: "tx.asof"}
	err = backfillToTopic(ctx, streams{}, half, sources, o, def.Source.Key, def.Name)
	if err == nil || !errors.Is(err, errAppendFailed) || !strings.Contains(err.Error(), "(150 joined records were appended to tx.asof before it)") {
		t.Fatalf("an append landing half its 300 records: %v", err)
	}
}

var errAppendFailed = errors.New("the broker went away")

// halfAppends appends the first half of every batch, then fails.
type halfAppends struct{ log.Log }

func (h *halfAppends) Append(ctx context.Context, topic string, recs []log.Record) error {
	if err := h.Log.Append(ctx, topic, recs[:len(recs)/2]); err != nil {
		return err
	}
	return errAppendFailed
}
