package als

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/ml/internal/mltest"
	"github.com/flintml/flint/ml/internal/tile"
)

// fitIters fits and returns the model, the iterations run, the objective
// after each and the last report's Stop.
func fitIters(t *testing.T, x Executor, rs []Rating, cfg Config) (m *Model, losses []float64, stop string) {
	t.Helper()
	cfg.Progress = func(p Progress) { losses, stop = append(losses, p.Loss), p.Stop }
	m, err := Fit(context.Background(), x, rs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, losses, stop
}

// objectiveOf computes the package doc's objective of a model on distinct
// (user, item) ratings directly: every pair for implicit feedback.
func objectiveOf(m *Model, rs []Rating, lambda, alpha float64) float64 {
	k := m.Rank
	nu, ni := make([]float64, len(m.UserIDs)), make([]float64, len(m.ItemIDs))
	data := 0.0
	rated := map[[2]int64]float64{}
	for _, r := range rs {
		u, _ := m.userPos(r.User)
		i, _ := m.itemPos(r.Item)
		if !m.Implicit || r.Value > 0 {
			nu[u]++
			ni[i]++
		}
		rated[[2]int64{r.User, r.Item}] = r.Value
		if !m.Implicit {
			e := r.Value - m.Predict(r.User, r.Item)
			data += e * e
		}
	}
	if m.Implicit {
		for _, u := range m.UserIDs {
			for _, i := range m.ItemIDs {
				c, p := 1.0, 0.0
				if r, ok := rated[[2]int64{u, i}]; ok {
					c = 1 + alpha*math.Abs(r)
					if r > 0 {
						p = 1
					}
				}
				e := p - tile.Dot(m.UserFactor(u), m.ItemFactor(i))
				data += c * e * e
			}
		}
	}
	reg := 0.0
	for p, n := range nu {
		x := m.UserFactors[p*k : (p+1)*k]
		reg += n * tile.Dot(x, x)
		if m.Biased {
			reg += n * m.UserBiases[p] * m.UserBiases[p]
		}
	}
	for p, n := range ni {
		y := m.ItemFactors[p*k : (p+1)*k]
		reg += n * tile.Dot(y, y)
		if m.Biased {
			reg += n * m.ItemBiases[p] * m.ItemBiases[p]
		}
	}
	return data + lambda*reg
}

// TestObjective: the objective Fit measures for Config.Tol is the package
// doc's, computed from the fitted model directly, and (each half-iteration
// minimising it exactly) it never rises.
func TestObjective(t *testing.T) {
	rs, _, _ := lowRank(40, 30, 8, 3, 0.3, 17)
	e := newEngine(t, 3)
	for _, cfg := range []Config{
		{Rank: 3, Lambda: 0.05},
		{Rank: 3, Lambda: 0.05, Biases: true},
		{Rank: 3, Lambda: 0.05, NonNegative: true},
		{Rank: 3, Lambda: 0.05, Implicit: true, Alpha: 2},
	} {
		cfg.MaxIter, cfg.Tol, cfg.Seed = 6, 1e-300, 4
		name := "explicit"
		switch {
		case cfg.Biases:
			name = "biases"
		case cfg.NonNegative:
			name = "nonneg"
		case cfg.Implicit:
			name = "implicit"
		}
		t.Run(name, func(t *testing.T) {
			m, losses, _ := fitIters(t, e, rs, cfg)
			if len(losses) != cfg.MaxIter {
				t.Fatalf("%d iterations, want %d", len(losses), cfg.MaxIter)
			}
			want := objectiveOf(m, rs, cfg.Lambda, cfg.Alpha)
			if got := losses[len(losses)-1]; math.Abs(got-want) > 1e-9*want {
				t.Errorf("objective %v, computed from the model %v", got, want)
			}
			for i := 1; i < len(losses); i++ {
				if losses[i] > losses[i-1]*(1+1e-12) {
					t.Errorf("objective rose from %v to %v at iteration %d", losses[i-1], losses[i], i+1)
				}
			}
		})
	}
	if _, losses, _ := fitIters(t, e, rs, Config{Rank: 3, MaxIter: 2}); !math.IsNaN(losses[1]) {
		t.Errorf("without Tol the reported loss is %v, want NaN", losses[1])
	}
}

// TestWarmStartConverges: started from the converged factors of the same
// ratings, a fit stops on Tol in fewer iterations than the cold fit, at
// the same training RMSE (within 0.1%); and it is bit for bit the same
// for any number of workers and blocks.
func TestWarmStartConverges(t *testing.T) {
	rs, _, _ := lowRank(400, 300, 30, 4, 0.1, 21)
	for _, biases := range []bool{false, true} {
		cfg := Config{Rank: 4, MaxIter: 100, Lambda: 0.01, Tol: 1e-6, Seed: 5, Biases: biases}
		cold, coldLoss, stop := fitIters(t, newEngine(t, 2), rs, cfg)
		if !strings.HasPrefix(stop, "converged: ") {
			t.Fatalf("biases %v: the cold fit stopped with %q, want it converged", biases, stop)
		}
		cfg.Start = cold
		var warm []*Model
		for _, wb := range [][2]int{{1, 1}, {4, 7}} {
			c := cfg
			c.Blocks = wb[1]
			m, warmLoss, stop := fitIters(t, newEngine(t, wb[0]), rs, c)
			coldRMSE, _ := cold.RMSE(rs)
			warmRMSE, _ := m.RMSE(rs)
			t.Logf("biases %v, %d workers, %d blocks: cold %d iterations (RMSE %.5f), warm %d (RMSE %.5f, %s)",
				biases, wb[0], wb[1], len(coldLoss), coldRMSE, len(warmLoss), warmRMSE, stop)
			if len(warmLoss) >= len(coldLoss) || !strings.HasPrefix(stop, "converged: ") {
				t.Errorf("biases %v: the warm fit ran %d iterations (%q), the cold %d", biases, len(warmLoss), stop, len(coldLoss))
			}
			if math.Abs(warmRMSE-coldRMSE) > 1e-3*coldRMSE {
				t.Errorf("biases %v: warm training RMSE %v, cold %v", biases, warmRMSE, coldRMSE)
			}
			warm = append(warm, m)
		}
		if !mltest.BitsEqual(warm[0].UserFactors, warm[1].UserFactors) || !mltest.BitsEqual(warm[0].ItemFactors, warm[1].ItemFactors) ||
			!mltest.BitsEqual(warm[0].UserBiases, warm[1].UserBiases) {
			t.Errorf("biases %v: the warm fit differs between 1 worker and 1 block, and 4 workers and 7 blocks", biases)
		}
	}
}

// TestWarmStartMapsByID: the start's factors and biases go to the same
// ids in a fit whose ids moved (a new user and item sort before every
// other, one old user and item are gone); the new ids get the seeded
// factors a cold fit draws for them.
func TestWarmStartMapsByID(t *testing.T) {
	rs := biasedRatings(30, 20, 6, 3)
	ctx := context.Background()
	e := newEngine(t, 2)
	cfg := Config{Rank: 3, MaxIter: 4, Seed: 9, Biases: true}
	start, err := Fit(ctx, e, rs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	grown := slices.DeleteFunc(slices.Clone(rs), func(r Rating) bool { return r.User == 0 || r.Item == 0 })
	grown = append(grown, Rating{User: -1, Item: 5, Value: 4}, Rating{User: -1, Item: 7, Value: 2},
		Rating{User: 3, Item: -1, Value: 5}, Rating{User: 8, Item: -1, Value: 1})
	c := cfg
	c.Start = start
	warm, err := newTrainer(ctx, e, grown, c)
	if err != nil {
		t.Fatal(err)
	}
	defer warm.close()
	coldT, err := newTrainer(ctx, e, grown, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer coldT.close()
	if warm.userIDs[0] != -1 || warm.itemIDs[0] != -1 || slices.Contains(warm.userIDs, 0) {
		t.Fatalf("ids %v, %v: the planted shift is not there", warm.userIDs[:3], warm.itemIDs[:3])
	}
	k := cfg.Rank
	for _, s := range []struct {
		side            string
		ids             []int64
		f, b, coldF     []float64
		prevF           func(int64) []float64
		prevIDs         []int64
		prevB           []float64
		shared, unknown int
	}{
		{side: "user", ids: warm.userIDs, f: warm.userF, b: warm.userB, coldF: coldT.userF, prevF: start.UserFactor, prevIDs: start.UserIDs, prevB: start.UserBiases},
		{side: "item", ids: warm.itemIDs, f: warm.itemF, b: warm.itemB, coldF: coldT.itemF, prevF: start.ItemFactor, prevIDs: start.ItemIDs, prevB: start.ItemBiases},
	} {
		for p, id := range s.ids {
			got := s.f[p*k : (p+1)*k]
			if q, ok := slices.BinarySearch(s.prevIDs, id); ok {
				s.shared++
				if !mltest.BitsEqual(got, s.prevF(id)) || s.b[p] != s.prevB[q] {
					t.Errorf("%s %d (position %d, %d before): starts from %v bias %v, want the start's %v bias %v", s.side, id, p, q, got, s.b[p], s.prevF(id), s.prevB[q])
				}
				continue
			}
			s.unknown++
			if !mltest.BitsEqual(got, s.coldF[p*k:(p+1)*k]) || s.b[p] != 0 {
				t.Errorf("%s %d, new: starts from %v bias %v, want the cold fit's %v bias 0", s.side, id, got, s.b[p], s.coldF[p*k:(p+1)*k])
			}
		}
		if s.shared != len(s.prevIDs)-1 || s.unknown != 1 {
			t.Errorf("%ss: %d shared with the start, %d new; want %d and 1", s.side, s.shared, s.unknown, len(s.prevIDs)-1)
		}
	}
}

func TestStartRejectsMismatch(t *testing.T) {
	rs, _, _ := lowRank(60, 40, 10, 3, 0.3, 12)
	ctx := context.Background()
	e := newEngine(t, 2)
	base := Config{Rank: 3, MaxIter: 2}
	start, err := Fit(ctx, e, rs, base)
	if err != nil {
		t.Fatal(err)
	}
	nonNeg, err := Fit(ctx, e, rs, Config{Rank: 3, MaxIter: 2, NonNegative: true})
	if err != nil {
		t.Fatal(err)
	}
	negative := *nonNeg
	negative.UserFactors = slices.Clone(nonNeg.UserFactors)
	negative.UserFactors[4] = -1
	short := *start
	short.ItemFactors = start.ItemFactors[1:]
	for _, c := range []struct {
		name  string
		cfg   Config
		start *Model
		want  string
	}{
		{"rank", Config{Rank: 4}, start, "Config.Start has rank 3, Config.Rank is 4"},
		{"biases", Config{Rank: 3, Biases: true}, start, "Config.Start has biases false, Config.Biases is true"},
		{"implicit", Config{Rank: 3, Implicit: true}, start, "Config.Start has Implicit false, Config.Implicit is true"},
		{"negative", Config{Rank: 3, NonNegative: true}, &negative, "user 3 has a negative factor (-1) and Config.NonNegative is set"},
		{"malformed", Config{Rank: 3}, &short, "Config.Start: als: malformed model"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Start = c.start
			_, err := Fit(ctx, e, rs, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// TestResumeStopsAlike: a fit resumed from a checkpoint stops on Tol at the
// iteration the uninterrupted fit did, with its factors.
func TestResumeStopsAlike(t *testing.T) {
	rs, _, _ := lowRank(200, 150, 20, 3, 0.2, 13)
	e := newEngine(t, 2)
	cfg := Config{Rank: 3, MaxIter: 100, Lambda: 0.02, Tol: 1e-4, Seed: 2}
	full, losses, _ := fitIters(t, e, rs, cfg)
	c := cfg
	var states []*State
	c.CheckpointEvery = 2
	c.Checkpoint = func(st *State) error { states = append(states, st); return nil }
	fitIters(t, e, rs, c)
	if len(states) == 0 || len(losses) >= cfg.MaxIter {
		t.Fatalf("%d iterations, %d checkpoints: the test needs a fit that converges after a checkpoint", len(losses), len(states))
	}
	for _, st := range states {
		c := cfg
		c.Resume = mltest.RoundTrip(t, st)
		var last int
		c.Progress = func(p Progress) { last = p.Iter }
		got, err := Fit(context.Background(), e, rs, c)
		if err != nil {
			t.Fatal(err)
		}
		if last != len(losses) || !mltest.BitsEqual(got.UserFactors, full.UserFactors) || !mltest.BitsEqual(got.ItemFactors, full.ItemFactors) {
			t.Errorf("resumed from iteration %d: stopped after %d, the uninterrupted fit after %d (or other factors)", st.Iter, last, len(losses))
		}
	}
}
