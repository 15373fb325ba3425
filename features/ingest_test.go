package features

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

func TestIngestValidatesThenAppends(t *testing.T) {
	l, err := disk.Open(disk.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := Schema{Format: "csv", Fields: []Field{{Name: "user", Type: Categorical}, {Name: "item", Type: Categorical}, {Name: "rating", Type: Numeric}}}
	var in strings.Builder
	in.WriteString("user,item,rating\n")
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&in, "u%d,i%d,%d\n", i%40, i%97, i%5+1)
	}
	in.WriteString("u1,i2,five\n")
	in.WriteString("u1,i3,4\n")
	var progress []int64
	rep, err := Ingest(context.Background(), l, strings.NewReader(in.String()), IngestOptions{
		Schema: s, Topic: "ratings", Key: "user", Name: "ratings.csv", Header: true, Batch: 1000,
		Progress: func(n int64) { progress = append(progress, n) },
	})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2502 || !strings.Contains(err.Error(), `ratings.csv:2502: field "rating": want a number, got "five"`) {
		t.Fatalf("Ingest over a bad line = %v, want a LineError at ratings.csv:2502 naming field rating", err)
	}
	if !strings.Contains(err.Error(), "2500 records before it were acknowledged") || rep.Appended != 2500 {
		t.Fatalf("report %+v, error %v: the 2500 good lines before the bad one must be appended and said so", rep, err)
	}
	if len(progress) != 3 || progress[2] != 2500 {
		t.Fatalf("progress calls %v, want 1000, 2000, 2500", progress)
	}
	// Keyed by user: every record of a user sits in one partition.
	info, _ := l.Describe(context.Background(), "ratings")
	where := map[string]int{}
	total := 0
	for _, p := range info.Partitions {
		recs, err := l.Read(context.Background(), "ratings", p.ID, 0, log.ReadOptions{MaxRecords: 5000, MaxBytes: 1 << 24})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if q, ok := where[string(r.Key)]; ok && q != p.ID {
				t.Fatalf("user %s in partitions %d and %d", r.Key, q, p.ID)
			}
			where[string(r.Key)] = p.ID
			if !strings.HasPrefix(string(r.Value), string(r.Key)+",") {
				t.Fatalf("record %q keyed %q", r.Value, r.Key)
			}
		}
		total += len(recs)
	}
	if total != 2500 {
		t.Fatalf("log holds %d records, want 2500", total)
	}
	// With SkipBad the bad line is counted and the rest goes in.
	rep, err = Ingest(context.Background(), l, strings.NewReader(in.String()), IngestOptions{Schema: s, Topic: "ratings2", Key: "user", Name: "ratings.csv", Header: true, SkipBad: true})
	if err != nil || rep.Appended != 2501 || rep.Skipped != 1 || len(rep.Examples) != 1 {
		t.Fatalf("SkipBad: %+v, %v", rep, err)
	}
}
