package als

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/ml/internal/mltest"
)

func sortedRatings(rs []Rating) []Rating {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b Rating) int {
		if a.User != b.User {
			return int(a.User - b.User)
		}
		if a.Item != b.Item {
			return int(a.Item - b.Item)
		}
		return int(a.Time - b.Time)
	})
	return out
}

// TestFitFromLog appends ratings to a log/disk topic, keyed by user, as CSV
// and JSON records, loads them with cluster's LoadLog and als.Format, and
// checks the ratings come back intact and fit.
func TestFitFromLog(t *testing.T) {
	ctx := context.Background()
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), Sync: disk.SyncUnsafeNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rs, _, _ := lowRank(200, 80, 15, 3, 0.1, 20)
	for i := range rs {
		rs[i].Value = math.Round(rs[i].Value*1000) / 1000 // exact through text
		rs[i].Time = int64(1_700_000_000 + i)
	}
	e := newEngine(t, 2)
	for _, kind := range []string{"csv", "json"} {
		topic := "ratings-" + kind
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 4}); err != nil {
			t.Fatal(err)
		}
		recs := make([]log.Record, len(rs))
		for i, r := range rs {
			v := fmt.Sprintf("%d,%d,%s,%d", r.User, r.Item, strconv.FormatFloat(r.Value, 'g', -1, 64), r.Time)
			if kind == "json" {
				v = fmt.Sprintf(`{"user": %d, "item": %d, "rating": %v, "timestamp": %d}`, r.User, r.Item, r.Value, r.Time)
			}
			recs[i] = log.Record{Key: []byte(strconv.FormatInt(r.User, 10)), Value: []byte(v)}
		}
		if err := l.Append(ctx, topic, recs); err != nil {
			t.Fatal(err)
		}
		ds, err := e.LoadLog(ctx, l, topic, cluster.LogOptions{Format: Format(kind)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Collect(ctx, e, ds)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sortedRatings(got), sortedRatings(rs)) {
			t.Fatalf("%s: %d ratings came back from the log, different from the %d appended", kind, len(got), len(rs))
		}
		cfg := Config{Rank: 3, MaxIter: 4, Lambda: 0.01}
		m, err := FitDataset(ctx, e, ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		direct, err := Fit(ctx, e, rs, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !mltest.BitsEqual(m.UserFactors, direct.UserFactors) || !mltest.BitsEqual(m.ItemFactors, direct.ItemFactors) {
			t.Errorf("%s: the fit of the logged ratings differs from the fit of the ratings themselves", kind)
		}
	}

	if err := l.Append(ctx, "bad", []log.Record{{Key: []byte("k"), Value: []byte("1,2,three")}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.LoadLog(ctx, l, "bad", cluster.LogOptions{Format: Format("csv")})
	var de *cluster.DecodeError
	if !errors.As(err, &de) || !strings.Contains(de.Where, "bad/") || !strings.Contains(err.Error(), "field 3 (rating)") {
		t.Errorf("a bad record: %v", err)
	}
}

func TestLoadCSVFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ratings.csv")
	text := "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n\n7,31 , 4.5 ,1260759185\n2,10,4\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []Rating{{1, 31, 2.5, 1260759144}, {1, 1029, 3, 1260759179}, {2, 10, 4, 0}, {7, 31, 4.5, 1260759185}}
	got, err := ReadCSV(strings.NewReader(text), true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sortedRatings(got), want) {
		t.Errorf("ReadCSV: %v", got)
	}
	e := newEngine(t, 2)
	f := Format("csv")
	f.Header = true
	ds, err := e.LoadFiles(context.Background(), []string{path}, cluster.FileOptions{Format: f, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err = Collect(context.Background(), e, ds)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sortedRatings(got), want) {
		t.Errorf("LoadFiles: %v", got)
	}
	for _, bad := range []string{"1,2", "1,2,3,4,5", "x,2,3", "1,2.5,3", "1,2,NaN", "1,2,3,later"} {
		if _, err := ReadCSV(strings.NewReader(bad), false); err == nil || !strings.HasPrefix(err.Error(), "als: line 1: ") {
			t.Errorf("ReadCSV(%q): %v", bad, err)
		}
	}
	for _, bad := range []string{`{"user": 1, "item": 2}`, `{"user": 1.5, "item": 2, "rating": 3}`, `[1, 2, 3]`} {
		if _, err := parseJSON([]byte(bad)); err == nil {
			t.Errorf("parseJSON(%s): no error", bad)
		}
	}
	if err := Format("xml").Validate(); err == nil {
		t.Error(`Format("xml") validates`)
	}
}

func TestModelRoundTrip(t *testing.T) {
	rs, _, _ := lowRank(60, 50, 12, 3, 0.1, 21)
	e := newEngine(t, 2)
	for _, cfg := range []Config{{Rank: 4, MaxIter: 3}, {Rank: 2, MaxIter: 2, Implicit: true, KeepRated: true, ColdStart: ColdStartDrop}} {
		m, err := Fit(context.Background(), e, rs, cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Model
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if got.Rank != m.Rank || got.Implicit != m.Implicit || got.ColdStart != m.ColdStart ||
			!slices.Equal(got.UserIDs, m.UserIDs) || !slices.Equal(got.ItemIDs, m.ItemIDs) ||
			!mltest.BitsEqual(got.UserFactors, m.UserFactors) || !mltest.BitsEqual(got.ItemFactors, m.ItemFactors) ||
			!slices.Equal(got.RatedPtr, m.RatedPtr) || !slices.Equal(got.RatedItems, m.RatedItems) ||
			got.HasRatingRange != m.HasRatingRange || got.RatingMin != m.RatingMin || got.RatingMax != m.RatingMax {
			t.Fatalf("round trip changed the model (config %+v)", cfg)
		}
		if p, q := got.Predict(rs[0].User, rs[0].Item), m.Predict(rs[0].User, rs[0].Item); p != q {
			t.Errorf("prediction %v after the round trip, %v before", p, q)
		}

		future := slices.Clone(b)
		binary.LittleEndian.PutUint16(future[8:], 9)
		binary.LittleEndian.PutUint32(future[len(future)-4:], crc32.Checksum(future[:len(future)-4], castagnoli))
		if err := got.UnmarshalBinary(future); !errors.Is(err, ErrVersion) {
			t.Errorf("version 9: %v, want ErrVersion", err)
		}
		corrupt := slices.Clone(b)
		corrupt[len(corrupt)/2] ^= 0x10
		if err := got.UnmarshalBinary(corrupt); err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Errorf("flipped bit: %v", err)
		}
		for _, n := range []int{0, 7, 12, 30, len(b) - 5, len(b) - 1} {
			if err := got.UnmarshalBinary(b[:n]); err == nil {
				t.Errorf("truncated to %d bytes: no error", n)
			}
		}
	}
	bad := &Model{Rank: 2, UserIDs: []int64{2, 1}, UserFactors: make([]float64, 4)}
	if _, err := bad.MarshalBinary(); err == nil {
		t.Error("ids out of order: marshalled")
	}
}

func TestRankingMetrics(t *testing.T) {
	lists := []Ranked{
		{Recommended: []int64{1, 2, 3, 4, 5}, Relevant: []int64{1, 3, 9}},
		{Recommended: []int64{7, 8}, Relevant: []int64{8}},
		{Recommended: []int64{1, 2}, Relevant: nil}, // no relevant item: not counted
	}
	got := Ranking(3, lists)
	l2 := math.Log2
	want := RankingMetrics{K: 3, Users: 2,
		Precision: (2.0/3 + 1.0/3) / 2,
		Recall:    (2.0/3 + 1) / 2,
		NDCG:      ((1+1/l2(4))/(1+1/l2(3)+1/l2(4)) + (1/l2(3))/1) / 2,
		MAP:       ((1+2.0/3)/3 + (1.0/2)/1) / 2,
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"precision", got.Precision, want.Precision}, {"recall", got.Recall, want.Recall}, {"ndcg", got.NDCG, want.NDCG}, {"map", got.MAP, want.MAP}} {
		if math.Abs(c.got-c.want) > 1e-15 {
			t.Errorf("%s@3 = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got.Users != 2 || got.K != 3 {
		t.Errorf("%+v", got)
	}
}
