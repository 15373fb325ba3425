package disk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

func join(t *testing.T, l *Log, group string, start log.StartAt, topics ...string) *member {
	t.Helper()
	c, err := l.JoinGroup(context.Background(), log.GroupConfig{Group: group, Topics: topics, StartAt: start})
	if err != nil {
		t.Fatalf("JoinGroup(%s): %v", group, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*member)
}

func TestGroupOffsetsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := testConfig(dir)
	ctx := context.Background()
	l := mustOpen(t, cfg)
	create(t, l, "a", log.TopicConfig{Partitions: 3})
	create(t, l, "b", log.TopicConfig{Partitions: 2})
	const group = "odd name/with spaces.and%signs"
	c := join(t, l, group, log.StartEarliest, "a", "b")
	// Many commits, some going backwards: the last one counts.
	want := map[string]map[int]int64{"a": {}, "b": {}}
	for i := 0; i < 50; i++ {
		topic := []string{"a", "b"}[i%2]
		p := i % 2
		off := int64(100 + i)
		if i == 49 {
			off = 3
		}
		if err := c.Commit(ctx, log.Record{Topic: topic, Partition: p, Offset: off - 1}, log.Record{Topic: topic, Partition: p, Offset: off - 5}); err != nil {
			t.Fatal(err)
		}
		want[topic][p] = off
	}
	check := func(l *Log) {
		t.Helper()
		for topic, w := range want {
			got, err := l.Committed(ctx, group, topic)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Fatalf("Committed(%s) = %v, want %v", topic, got, w)
			}
		}
		groups, _ := l.Groups(ctx)
		if !slices.Equal(groups, []string{group}) {
			t.Fatalf("Groups() = %q, want [%q]", groups, group)
		}
	}
	check(l)
	c.Close()
	closeLog(t, l)

	l = mustOpen(t, cfg)
	check(l)
	// Open compacted the file to one entry.
	path := l.groups.groups[group].path
	if got, want := fileSize(t, path), int64(len(appendOffsetsEntry(nil, l.groups.groups[group].committed))); got != want {
		t.Fatalf("offsets file is %d bytes after Open, want %d (one entry)", got, want)
	}
	closeLog(t, l)
	l = mustOpen(t, cfg)
	defer closeLog(t, l)
	check(l)
	if m, err := l.Committed(ctx, "no such group", "a"); err != nil || len(m) != 0 {
		t.Fatalf("Committed(unknown group) = %v, %v; want an empty map", m, err)
	}
}

func TestGroupOffsetsTornTail(t *testing.T) {
	dir := t.TempDir()
	cfg, lb := testConfig(dir)
	ctx := context.Background()
	l := mustOpen(t, cfg)
	create(t, l, "a", log.TopicConfig{Partitions: 1})
	c := join(t, l, "g", log.StartEarliest, "a")
	for i := int64(1); i <= 3; i++ {
		if err := c.Commit(ctx, log.Record{Topic: "a", Offset: i * 10}); err != nil {
			t.Fatal(err)
		}
	}
	path := l.groups.groups["g"].path
	closeLog(t, l)
	size := fileSize(t, path)
	// A commit torn by a crash: a whole entry, cut short.
	entry := appendOffsetsEntry(nil, map[log.TopicPartition]int64{{Topic: "a"}: 99})
	appendGarbage(entry[:len(entry)-2])(t, path, 0)

	l = mustOpen(t, cfg)
	defer closeLog(t, l)
	got, _ := l.Committed(ctx, "g", "a")
	if got[0] != 31 {
		t.Fatalf("committed offset %d after a torn commit, want 31 (the last whole one)", got[0])
	}
	rec := l.Recovery()
	if len(rec) != 1 || rec[0].Segment != path || rec[0].TruncatedAt != size || rec[0].BytesDropped != int64(len(entry)-2) {
		t.Fatalf("Recovery() = %v, want %s truncated at %d", rec, path, size)
	}
	mustContain(t, "the warning", lb.String(), path, "torn tail")
}

func TestRangeAssignor(t *testing.T) {
	cases := []struct {
		partitions, members int
		want                []int // partitions per member, in join order
	}{
		{4, 1, []int{4}},
		{4, 2, []int{2, 2}},
		{5, 2, []int{3, 2}},
		{7, 3, []int{3, 2, 2}},
		{2, 3, []int{1, 1, 0}},
		{12, 11, []int{2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("partitions=%d/members=%d", c.partitions, c.members), func(t *testing.T) {
			cfg, _ := testConfig(t.TempDir())
			l := mustOpen(t, cfg)
			defer closeLog(t, l)
			create(t, l, "t", log.TopicConfig{Partitions: c.partitions})
			var ms []*member
			for i := 0; i < c.members; i++ {
				ms = append(ms, join(t, l, "g", log.StartEarliest, "t"))
			}
			next := 0
			for i, m := range ms {
				if want := fmt.Sprintf("g-%d", i+1); m.id != want {
					t.Fatalf("member %d has ID %q, want %q", i, m.id, want)
				}
				got := m.Assignment()
				var want []log.TopicPartition
				for j := 0; j < c.want[i]; j++ {
					want = append(want, log.TopicPartition{Topic: "t", Partition: next})
					next++
				}
				if !slices.Equal(got, want) {
					t.Fatalf("member %s owns %v, want %v", m.id, got, want)
				}
			}
			// A leave gives the partitions to the others.
			ms[0].Close()
			total := 0
			for _, m := range ms[1:] {
				total += len(m.Assignment())
			}
			if total != c.partitions && len(ms) > 1 {
				t.Fatalf("after the first member left the others own %d of %d partitions", total, c.partitions)
			}
		})
	}
}

func TestRangeAssignorPerTopicSubscriptions(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "a", log.TopicConfig{Partitions: 3})
	create(t, l, "b", log.TopicConfig{Partitions: 3})
	m1 := join(t, l, "g", log.StartEarliest, "a", "b")
	m2 := join(t, l, "g", log.StartEarliest, "b")
	tp := func(topic string, p int) log.TopicPartition { return log.TopicPartition{Topic: topic, Partition: p} }
	if got, want := m1.Assignment(), []log.TopicPartition{tp("a", 0), tp("a", 1), tp("a", 2), tp("b", 0), tp("b", 1)}; !slices.Equal(got, want) {
		t.Fatalf("m1 owns %v, want %v", got, want)
	}
	if got, want := m2.Assignment(), []log.TopicPartition{tp("b", 2)}; !slices.Equal(got, want) {
		t.Fatalf("m2 owns %v, want %v", got, want)
	}
}

func TestPollWakesOnAppendToAnyPartition(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 3})
	c := join(t, l, "g", log.StartEarliest, "t")
	got := make(chan []log.Record, 1)
	go func() {
		recs, err := c.Poll(context.Background(), log.ReadOptions{Wait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		got <- recs
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	rec := []log.Record{{Key: []byte("x"), Value: []byte("y")}} // some partition
	if err := l.Append(context.Background(), "t", rec); err != nil {
		t.Fatal(err)
	}
	select {
	case recs := <-got:
		if len(recs) != 1 || recs[0].Partition != rec[0].Partition || time.Since(start) > 5*time.Second {
			t.Fatalf("Poll returned %v after %v", recs, time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Poll did not wake for an append to partition %d", rec[0].Partition)
	}
}

func TestConsumerClose(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 2})
	c := join(t, l, "g", log.StartEarliest, "t")
	done := make(chan error, 1)
	go func() {
		_, err := c.Poll(context.Background(), log.ReadOptions{Wait: 20 * time.Second})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, log.ErrGroupMemberClosed) {
			t.Fatalf("Poll blocked during Close = %v, want ErrGroupMemberClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked Poll")
	}
	if _, err := c.Poll(context.Background(), log.ReadOptions{}); !errors.Is(err, log.ErrGroupMemberClosed) {
		t.Fatalf("Poll after Close = %v, want ErrGroupMemberClosed", err)
	}
	if err := c.Commit(context.Background(), log.Record{Topic: "t"}); !errors.Is(err, log.ErrGroupMemberClosed) {
		t.Fatalf("Commit after Close = %v, want ErrGroupMemberClosed", err)
	}
	if c.Assignment() != nil {
		t.Fatal("a closed member still has an assignment")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestPollSkipsWhatRetentionRemoved(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	ctx := context.Background()
	create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 2048, RetentionBytes: 4096})
	c := join(t, l, "g", log.StartEarliest, "t")
	want := appendBatches(t, l, "t", 0, 10, 5, 100)
	if err := c.Commit(ctx, want[0]); err != nil {
		t.Fatal(err)
	}
	if err := l.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	info, _ := l.Offsets(ctx, "t", 0)
	if info.Earliest <= 1 {
		t.Fatal("retention removed nothing")
	}
	recs, err := c.Poll(ctx, log.ReadOptions{Wait: time.Second})
	if err != nil || len(recs) == 0 || recs[0].Offset != info.Earliest {
		t.Fatalf("Poll after retention = offsets %v, %v; want records from the earliest offset %d", offsetsOf(recs), err, info.Earliest)
	}
}

func TestGroupFileNames(t *testing.T) {
	for _, name := range []string{"g", "a.b", "..", "x/y", "%41", "ünï", " "} {
		esc := escapeGroup(name)
		got, ok := unescapeGroup(esc)
		if !ok || got != name {
			t.Errorf("unescape(escape(%q)) = %q, %v", name, got, ok)
		}
		for _, ch := range esc {
			if ch == '/' || ch == '.' {
				t.Errorf("escape(%q) = %q keeps %q", name, esc, ch)
			}
		}
	}
}

func offsetsOf(recs []log.Record) []int64 {
	o := make([]int64, len(recs))
	for i, r := range recs {
		o[i] = r.Offset
	}
	return o
}

func TestGroupOffsetsCompactedByCommit(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	cfg.Sync = SyncUnsafeNever // thousands of commits; the fsyncs are not the point
	l := mustOpen(t, cfg)
	defer func() { closeLog(t, l) }()
	ctx := context.Background()
	create(t, l, "t", log.TopicConfig{Partitions: 2})
	c := join(t, l, "g", log.StartEarliest, "t")
	g := l.groups.groups["g"]
	maxSize := int64(0)
	for i := 0; i < 10_000; i++ {
		if err := c.Commit(ctx, log.Record{Topic: "t", Partition: i % 2, Offset: int64(i)}); err != nil {
			t.Fatal(err)
		}
		maxSize = max(maxSize, fileSize(t, g.path))
	}
	if maxSize > compactBytes+64 {
		t.Fatalf("the offsets file grew to %d bytes; Commit should compact it past %d", maxSize, compactBytes)
	}
	c.Close()
	closeLog(t, l)
	l = mustOpen(t, cfg)
	if got, _ := l.Committed(ctx, "g", "t"); got[0] != 9999 || got[1] != 10_000 {
		t.Fatalf("Committed after compactions and reopen = %v", got)
	}
}
