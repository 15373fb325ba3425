package stream

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// startStage starts a processor, the repartition stage when rep is set.
func startStage(t *testing.T, l log.Log, def *Definition, dir string, rep bool) *running {
	t.Helper()
	p, err := NewProcessor(context.Background(), ProcessorConfig{Log: l, Definition: def, Dir: dir, Repartition: rep,
		MaxRecords: 50, PollWait: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	return r
}

// consumed waits until a group has committed every record of a topic.
func consumed(t *testing.T, l log.Log, group, topic string) {
	t.Helper()
	waitFor(t, 2*time.Minute, func() (bool, string) {
		info, err := l.Describe(context.Background(), topic)
		if err != nil {
			return false, err.Error()
		}
		c, err := l.Committed(context.Background(), group, topic)
		if err != nil {
			return false, err.Error()
		}
		var have, want int64
		for _, p := range info.Partitions {
			have, want = have+c[p.ID], want+p.Latest
		}
		return have == want, fmt.Sprintf("group %s has committed %d of the %d records of %s", group, have, want, topic)
	})
}

// An unkeyed source (source.repartition): the repartition stage appends
// every record that decodes once, keyed by card, to the event topic — also
// across a restart of both stages mid-stream — and the aggregating
// processor's table and states equal an offline run over the event topic.
func TestProcessorRepartitionsUnkeyedInput(t *testing.T) {
	def, err := Parse("cards.yaml", []byte(strings.Replace(procDefYAML, "  key: card\n", "  key: card\n  repartition: true\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := openDisk(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	recs := makeEvents(3, 900, 25, time.UnixMilli(1_700_000_000_000))
	bad := 0
	for i := range recs {
		recs[i].Key = nil // unkeyed: a card's events land in every partition
		if strings.Contains(string(recs[i].Value), "yesterday") {
			bad++
		}
	}
	appendEvents(t, l, recs[:450])
	rep := startStage(t, l, def, filepath.Join(dir, "rep"), true)
	agg := startStage(t, l, def, filepath.Join(dir, "state"), false)
	consumed(t, l, "features.cards.repartition", "tx")
	rep.halt(t)
	agg.halt(t)
	appendEvents(t, l, recs[450:])
	rep = startStage(t, l, def, filepath.Join(dir, "rep"), true)
	agg = startStage(t, l, def, filepath.Join(dir, "state"), false)
	consumed(t, l, "features.cards.repartition", "tx")
	consumed(t, l, "features.cards", def.EventTopic())
	rep.halt(t)
	agg.halt(t)

	seen := map[SourcePos]bool{}
	n := 0
	for q, part := range readAll(t, l, def.EventTopic()) {
		for i := range part {
			src, ok := RecordSource(&part[i])
			if !ok || seen[src] {
				t.Fatalf("event %s/%d@%d: source %v (header %v), seen before %v", def.EventTopic(), q, part[i].Offset, src, ok, seen[src])
			}
			seen[src] = true
			if want := log.Partition(part[i].Key, 3); want != q {
				t.Fatalf("event keyed %q in partition %d, not %d", part[i].Key, q, want)
			}
			n++
		}
	}
	if n != len(recs)-bad {
		t.Fatalf("the event topic holds %d events; the source %d that decode", n, len(recs)-bad)
	}
	exp := offline(t, def, l)
	got, err := readTable(t, l, "features.cards.table")
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, exp, got)
	checkStates(t, def, filepath.Join(dir, "state"), exp, readAll(t, l, def.EventTopic()))
}
