package als

import (
	"context"
	"testing"
)

// TestStopReason: ALS runs MaxIter iterations, and its last report says so.
func TestStopReason(t *testing.T) {
	rs, _, _ := lowRank(60, 40, 10, 3, 0.1, 5)
	e := newEngine(t, 2)
	var reports []Progress
	if _, err := Fit(context.Background(), e, rs, Config{Rank: 3, MaxIter: 4, Progress: func(p Progress) { reports = append(reports, p) }}); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 4 {
		t.Fatalf("%d reports for 4 iterations", len(reports))
	}
	for i, p := range reports {
		want := ""
		if i == 3 {
			want = "max_iter 4 reached"
		}
		if p.Iter != i+1 || p.Stop != want {
			t.Errorf("report %d: iteration %d, Stop %q; want %d, %q", i, p.Iter, p.Stop, i+1, want)
		}
	}
}
