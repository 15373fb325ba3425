package als

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"

	"github.com/flintml/flint/ml/internal/tile"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// benchRatings generates n ratings of nu users on ni items, seeded: every
// user rates n/nu items drawn uniformly, with values 1–5. Repeated pairs
// (a few hundred in 5 M) are merged by Fit as repeats are.
func benchRatings(nu, ni, n int, seed uint64) []Rating {
	rng := rand.New(rand.NewPCG(seed, 0xbe))
	rs := make([]Rating, n)
	for i := range rs {
		rs[i] = Rating{User: int64(i % nu), Item: int64(rng.IntN(ni)), Value: float64(1 + rng.IntN(5))}
	}
	return rs
}

// dgemmGFLOPS measures gonum's blas64.Gemm on n×n matrices (best of reps),
// on all cores as gonum runs it: the yardstick of the solve step. It
// returns GFLOP per second of wall time and per second of CPU time (all
// cores together); on a shared machine the second is the steadier.
func dgemmGFLOPS(n, reps int) (wall, cpu float64) {
	rng := rand.New(rand.NewPCG(1, 1))
	a, b, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	for i := range a {
		a[i], b[i] = rng.Float64(), rng.Float64()
	}
	bestWall, bestCPU := time.Duration(1<<62), time.Duration(1<<62)
	for range reps {
		start, cpu0 := time.Now(), cpuTime()
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, blas64.General{Rows: n, Cols: n, Stride: n, Data: a},
			blas64.General{Rows: n, Cols: n, Stride: n, Data: b}, 0, blas64.General{Rows: n, Cols: n, Stride: n, Data: c})
		bestWall, bestCPU = min(bestWall, time.Since(start)), min(bestCPU, cpuTime()-cpu0)
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	return flops / bestWall.Seconds() / 1e9, flops / bestCPU.Seconds() / 1e9
}

// numpyDgemm is the OpenBLAS floor: numpy's a @ b on n×n matrices (best
// of reps) in /usr/bin/python3 (the python3 on PATH may lack numpy), on
// the cores OpenBLAS takes, as GFLOP per second of wall time and per
// second of the process's CPU time.
func numpyDgemm(n, reps int) (wall, cpu float64, err error) {
	script := fmt.Sprintf(`import numpy as np, time
n, reps = %d, %d
a, b = np.random.rand(n, n), np.random.rand(n, n)
a @ b
w = c = 1e9
for _ in range(reps):
    t0, c0 = time.perf_counter(), time.process_time()
    a @ b
    w, c = min(w, time.perf_counter() - t0), min(c, time.process_time() - c0)
print(2 * n**3 / w / 1e9, 2 * n**3 / c / 1e9)`, n, reps)
	out, err := exec.Command("/usr/bin/python3", "-c", script).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("/usr/bin/python3 with numpy: %w", err)
	}
	if _, err := fmt.Sscan(string(out), &wall, &cpu); err != nil {
		return 0, 0, fmt.Errorf("numpy dgemm printed %q: %w", out, err)
	}
	return wall, cpu, nil
}

// solveFlops counts the floating-point operations one iteration needs to
// form and solve the normal equations of every user and item: per row with
// n ratings at rank k, n·k(k+1) for the upper triangle of Σ y·yᵀ, 2nk for
// Σ r·y, k³/3 for Cholesky and 2k² for the two triangular solves.
func solveFlops(t *trainer) float64 {
	k := float64(t.cfg.Rank)
	total := 0.0
	for _, lens := range [][]int{t.userNNZ, t.itNNZ} {
		for _, n := range lens {
			total += float64(n)*(k*(k+1)+2*k) + k*k*k/3 + 2*k*k
		}
	}
	return total
}

// BenchmarkALSIteration times one ALS iteration (all item factors, then all
// user factors) on 5 M synthetic ratings of 100 000 users on 20 000 items,
// and reports the solve step's GFLOP/s (solveFlops over the iteration's
// time) against gonum's dgemm on 1024×1024 matrices measured in the same
// run: %dgemm compares wall-clock rates, %dgemm-cpu rates per CPU-second
// (all cores), which other processes on the machine disturb less; and
// against OpenBLAS's dgemm through numpy (%openblas, %openblas-cpu), the
// floor the goal is set against (at rank 50, at least 50 %). The implicit
// case is rank 50 with Config.Implicit (α = 1), whose solveFlops count
// the same Gramian and solve work.
//
//	go test ./ml/als -run '^$' -bench ALSIteration -benchtime 3x -count 3 -timeout 30m
func BenchmarkALSIteration(b *testing.B) {
	const nu, ni, n = 100_000, 20_000, 5_000_000
	start := time.Now()
	rs := benchRatings(nu, ni, n, 1)
	gen := time.Since(start)
	dgemm, dgemmCPU := dgemmGFLOPS(1024, 3)
	npWall, npCPU, err := numpyDgemm(1024, 3)
	if err != nil {
		b.Logf("no OpenBLAS floor: %v", err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		rank     int
		implicit bool
	}{{10, false}, {50, false}, {50, true}} {
		rank, name := c.rank, fmt.Sprintf("users=%d/items=%d/ratings=%d/rank=%d", nu, ni, n, c.rank)
		if c.implicit {
			name += "/implicit"
		}
		b.Run(name, func(b *testing.B) {
			e := newEngine(b, 0)
			start := time.Now()
			t, err := newTrainer(ctx, e, rs, Config{Rank: rank, Lambda: 0.05, Alpha: 1, Implicit: c.implicit, Blocks: 4 * e.Workers()})
			if err != nil {
				b.Fatal(err)
			}
			defer t.close()
			b.Logf("generate %v, index and block the ratings %v", gen.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			flops := solveFlops(t)
			cpu := cpuTime()
			for b.Loop() {
				if err := t.iterate(ctx); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			cpuSec := (cpuTime() - cpu).Seconds() / float64(b.N)
			b.ReportMetric(sec*1e3, "ms/iter")
			b.ReportMetric(cpuSec*1e3, "cpu-ms/iter")
			b.ReportMetric(flops/sec/1e9, "GFLOP/s")
			b.ReportMetric(dgemm, "dgemm-GFLOP/s")
			b.ReportMetric(100*flops/sec/1e9/dgemm, "%dgemm")
			if cpuSec > 0 && dgemmCPU > 0 {
				b.ReportMetric(100*flops/cpuSec/1e9/dgemmCPU, "%dgemm-cpu")
			}
			if npWall > 0 {
				b.ReportMetric(npWall, "openblas-GFLOP/s")
				b.ReportMetric(100*flops/sec/1e9/npWall, "%openblas")
				if cpuSec > 0 {
					b.ReportMetric(100*flops/cpuSec/1e9/npCPU, "%openblas-cpu")
				}
			}
		})
	}
}

// randomModel is a model of users×items with random factors of the rank,
// and ratedPer rated items kept per user.
func randomModel(users, items, rank, ratedPer int) *Model {
	rng := rand.New(rand.NewPCG(2, 2))
	m := &Model{Rank: rank, ColdStart: ColdStartNaN, UserIDs: make([]int64, users), ItemIDs: make([]int64, items),
		UserFactors: make([]float64, users*rank), ItemFactors: make([]float64, items*rank), RatedPtr: make([]int64, users+1)}
	for i := range m.UserIDs {
		m.UserIDs[i] = int64(i)
	}
	for i := range m.ItemIDs {
		m.ItemIDs[i] = int64(i)
	}
	for i := range m.UserFactors {
		m.UserFactors[i] = rng.NormFloat64()
	}
	for i := range m.ItemFactors {
		m.ItemFactors[i] = rng.NormFloat64()
	}
	for u := range users {
		step := items / ratedPer
		for j := range ratedPer {
			m.RatedItems = append(m.RatedItems, int32(j*step+u%step))
		}
		m.RatedPtr[u+1] = int64(len(m.RatedItems))
	}
	return m
}

// BenchmarkRecommend times a top-10 recommendation for one user among
// 20 000 items at rank 50, with and without leaving out 50 rated items.
//
//	go test ./ml/als -run '^$' -bench Recommend -benchtime 2s
func BenchmarkRecommend(b *testing.B) {
	const items, rank, k = 20_000, 50, 10
	m := randomModel(100, items, rank, 50)
	for _, exclude := range []bool{false, true} {
		b.Run(fmt.Sprintf("items=%d/rank=%d/k=%d/exclude-rated=%v", items, rank, k, exclude), func(b *testing.B) {
			var dst []Scored
			var err error
			u := 0
			b.ReportAllocs()
			for b.Loop() {
				if dst, err = m.Recommend(dst, int64(u%100), k, RecommendOptions{ExcludeRated: exclude}); err != nil {
					b.Fatal(err)
				}
				u++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N), "µs/op")
		})
	}
	b.Run(fmt.Sprintf("items=%d/rank=%d/k=%d/similar-items", items, rank, k), func(b *testing.B) {
		var dst []Scored
		var err error
		for b.Loop() {
			if dst, err = m.SimilarItems(dst, 1, k); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N), "µs/op")
	})
}

// BenchmarkNormal compares forming one row's normal matrix with the tiled
// kernel and with gonum's blas64.Syrk on the same gathered factors (one
// goroutine).
//
//	go test ./ml/als -run '^$' -bench Normal -cpu 1
func BenchmarkNormal(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, c := range []struct{ k, n int }{{10, 50}, {10, 250}, {50, 50}, {50, 250}} {
		y := make([]float64, c.n*c.k) // n gathered factors, row-major
		for i := range y {
			y[i] = rng.NormFloat64()
		}
		w := (c.k + 7) &^ 7 // the factors w apart (the solver's rows also carry the rating: k+1 columns)
		yw, aw := make([]float64, c.n*w), make([]float64, w*w)
		for r := range c.n {
			copy(yw[r*w:r*w+c.k], y[r*c.k:(r+1)*c.k])
		}
		a := make([]float64, c.k*c.k)
		flops := float64(c.n * c.k * (c.k + 1))
		b.Run(fmt.Sprintf("rank=%d/ratings=%d/impl=tiles", c.k, c.n), func(b *testing.B) {
			for b.Loop() {
				clear(aw)
				tile.Gram(aw, yw, w, c.n, c.k)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("rank=%d/ratings=%d/impl=dsyrk", c.k, c.n), func(b *testing.B) {
			for b.Loop() {
				blas64.Syrk(blas.Trans, 1, blas64.General{Rows: c.n, Cols: c.k, Stride: c.k, Data: y}, 0,
					blas64.Symmetric{Uplo: blas.Upper, N: c.k, Stride: c.k, Data: a})
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkObjective measures what Config.Tol costs: an iteration without
// it and with it (each row's term of the objective measured in the
// half-iterations and summed on the driver).
//
//	go test ./ml/als -run '^$' -bench Objective -count 3
func BenchmarkObjective(b *testing.B) {
	const nu, ni, n = 20_000, 5_000, 1_000_000
	rs := benchRatings(nu, ni, n, 1)
	ctx := context.Background()
	for _, rank := range []int{10, 50} {
		for _, tol := range []float64{0, 1e-4} {
			b.Run(fmt.Sprintf("rank=%d/tol=%g", rank, tol), func(b *testing.B) {
				e := newEngine(b, 0)
				t, err := newTrainer(ctx, e, rs, Config{Rank: rank, Lambda: 0.05, Tol: tol, Blocks: 4 * e.Workers()})
				if err != nil {
					b.Fatal(err)
				}
				defer t.close()
				for b.Loop() {
					if err := t.iterate(ctx); err != nil {
						b.Fatal(err)
					}
					t.objective()
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(sec*1e3, "ms/iter")
				b.ReportMetric(n/sec, "ratings/s")
			})
		}
	}
}
