package stream

import (
	"context"
	"fmt"
	"github.com/flintml/flint/log/disk"
	"os"
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
		MaxRecords: 50, PollWait: 20 * time.Millisecond, Logger: quiet, Emit: EmitEvery})
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

// The repartition stage under SIGKILL at every point of a batch (after its
// append, after the store's commit, from outside), its store deleted on
// some restarts: the event topic ends holding every source record that
// decodes exactly once.
func TestRepartitionExactlyOnceUnderKillsDisk(t *testing.T) {
	yaml := strings.Replace(procDefYAML, "  key: card\n", "  key: card\n  repartition: true\n", 1)
	def, err := Parse("cards.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "log")
	l := openDisk(t, dir)
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	recs := makeEvents(5, 1500, 40, time.UnixMilli(1_700_000_000_000))
	want := 0
	for i := range recs {
		recs[i].Key = nil
		if !strings.Contains(string(recs[i].Value), "yesterday") {
			want++
		}
	}
	appendEvents(t, l, recs)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	reader := openReader(t, dir)
	defs := filepath.Join(t.TempDir(), "cards.yaml")
	if err := os.WriteFile(defs, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(childRepEnv, "1")
	state := filepath.Join(t.TempDir(), "state")
	count := func() int {
		info, err := reader.Describe(context.Background(), def.EventTopic())
		if err != nil {
			return 0
		}
		n := 0
		for _, p := range info.Partitions {
			n += int(p.Latest)
		}
		return n
	}
	for i, k := range []kill{{"table", false}, {"commit", false}, {"", false}, {"table", true}, {"commit", true}, {"", true}, {"table", false}} {
		crash := ""
		if k.point != "" {
			crash = fmt.Sprintf("%s:%d", k.point, 2+i*3)
		}
		prev := count()
		c := startChild(t, "dir:"+dir, defs, state, crash, EmitEvery)
		waitFor(t, 2*time.Minute, func() (bool, string) {
			if k.point != "" {
				return c.exited() || count() >= want, fmt.Sprintf("the child has not reached %s\n%s", crash, c.stderr)
			}
			return count() >= prev+100 || count() >= want, fmt.Sprintf("the event topic holds %d records\n%s", count(), c.stderr)
		})
		c.kill(t)
		if k.delete {
			if err := os.RemoveAll(state); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := startChild(t, "dir:"+dir, defs, state, "", EmitEvery)
	consumed(t, reader, "features.cards.repartition", "tx")
	c.kill(t)
	seen := map[SourcePos]bool{}
	for _, part := range readAll(t, reader, def.EventTopic()) {
		for i := range part {
			src, ok := RecordSource(&part[i])
			if !ok || seen[src] {
				t.Fatalf("source %v appended twice (or without its header)", src)
			}
			seen[src] = true
		}
	}
	if len(seen) != want {
		t.Fatalf("the event topic holds %d source records; %d decode", len(seen), want)
	}
}

// openReader opens the embedded log read-only beside its writer.
func openReader(t *testing.T, dir string) log.Log {
	t.Helper()
	r, err := disk.Open(disk.Config{Dir: dir, ReadOnly: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
