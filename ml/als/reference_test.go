package als

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// numpyReference is what bench/peers/als_reference.py --write recorded.
type numpyReference struct {
	Users, Items, Rank, Iterations int
	Lambda, Alpha                  float64
	Explicit, Implicit             struct {
		UserFactors []float64 `json:"user_factors"`
		ItemFactors []float64 `json:"item_factors"`
	}
}

// TestMatchesNumpyReference runs ALS from the script's closed-form ratings
// and starting factors and compares the factors with numpy's, for explicit
// and implicit feedback: the normal equations, the λ scaling and the
// implicit confidence must all agree for this to pass.
func TestMatchesNumpyReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/numpy_als.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref numpyReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := newEngine(t, 2)
	for _, implicit := range []bool{false, true} {
		var rs []Rating
		for u := range ref.Users {
			for i := range ref.Items {
				if (7*u+3*i)%4 == 0 || i == u%ref.Items {
					v := 1 + float64((5*u+11*i)%9)/2
					if implicit {
						v = float64((u+2*i)%5) - 1
					}
					rs = append(rs, Rating{User: int64(u), Item: int64(i), Value: v})
				}
			}
		}
		tr, err := newTrainer(ctx, e, rs, Config{Rank: ref.Rank, Lambda: ref.Lambda, Alpha: ref.Alpha, Implicit: implicit, Blocks: 3})
		if err != nil {
			t.Fatal(err)
		}
		for u := range ref.Users {
			for c := range ref.Rank {
				tr.userF[u*ref.Rank+c] = math.Cos(float64(u)+0.7*float64(c))/2 + 0.1*float64(c)
			}
		}
		for range ref.Iterations {
			if err := tr.iterate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		tr.close()
		want := ref.Explicit
		if implicit {
			want = ref.Implicit
		}
		worst := 0.0
		for _, side := range []struct{ got, want []float64 }{{tr.userF, want.UserFactors}, {tr.itemF, want.ItemFactors}} {
			if len(side.got) != len(side.want) {
				t.Fatalf("implicit=%v: %d factor values, numpy %d", implicit, len(side.got), len(side.want))
			}
			for i := range side.got {
				worst = max(worst, math.Abs(side.got[i]-side.want[i])/(1+math.Abs(side.want[i])))
			}
		}
		t.Logf("implicit=%v: largest relative difference from numpy %.2g", implicit, worst)
		if worst > 1e-9 {
			t.Errorf("implicit=%v: factors differ from numpy's by up to %.2g", implicit, worst)
		}
	}
}
