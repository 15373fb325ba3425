package kmeans

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/internal/tile"
)

// initialCentres returns K starting centres chosen by cfg.Init.
func initialCentres(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, cfg Config, seed uint64) ([]float64, error) {
	switch cfg.Init {
	case InitRandom:
		return randomInit(ctx, x, ds, cfg.K, seed)
	case InitPlusPlus:
		return plusPlus(ctx, x, ds, nil, cfg.K, seed)
	}
	return parallelInit(ctx, x, ds, cfg.K, cfg.InitSteps, seed)
}

// randomInit picks K distinct rows uniformly (Floyd's sampling over the
// global row numbers).
func randomInit(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, k int, seed uint64) ([]float64, error) {
	rows, err := fetchRows(ctx, x, ds, sampleRows(ds.Rows(), k, seed))
	if err != nil {
		return nil, err
	}
	return slices.Concat(rows...), nil
}

// sampleRows draws n distinct numbers in [0, total), sorted.
func sampleRows(total, n int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x6b6d))
	chosen := make(map[int]bool, n)
	for j := total - n; j < total; j++ {
		t := rng.IntN(j + 1)
		if chosen[t] {
			t = j
		}
		chosen[t] = true
	}
	out := make([]int, 0, n)
	for r := range chosen {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// fetchRows returns the rows with the given global numbers (sorted), dense,
// in the same order.
func fetchRows(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, global []int) ([][]float64, error) {
	refs := make([]rowRef, len(global))
	stats := ds.Stats()
	p, base := 0, 0
	for i, g := range global {
		for g >= base+stats[p].Rows {
			base += stats[p].Rows
			p++
		}
		refs[i] = rowRef{Part: int32(p), Row: int32(g - base)}
	}
	got, err := cluster.Aggregate(ctx, x, ds, fetchTask, &fetchArgs{Refs: refs})
	if err != nil {
		return nil, err
	}
	if len(got.Rows) != len(refs) {
		return nil, fmt.Errorf("fetched %d of %d rows", len(got.Rows), len(refs))
	}
	out := make([][]float64, len(refs))
	for i, r := range got.Rows { // partials arrive in partition order, rows in ref order
		if r.Part != refs[i].Part || r.Row != refs[i].Row {
			return nil, fmt.Errorf("fetched row %d/%d, want %d/%d", r.Part, r.Row, refs[i].Part, refs[i].Row)
		}
		out[i] = r.X
	}
	return out, nil
}

// plusPlus adds centres to c (n×Cols, row-major) by the k-means++ rule
// until there are k: each new centre is a row drawn with probability
// proportional to its weight times its squared distance to the nearest
// centre so far (the first by weight alone). One pass per centre.
func plusPlus(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, c []float64, k int, seed uint64) ([]float64, error) {
	d := ds.Cols()
	for step := len(c) / d; step < k; step++ {
		cs := newCentres(c, step, d, ds.Sparse())
		p, err := cluster.Aggregate(ctx, x, ds, pickTask, &pickArgs{Centres: cs, Seed: seed, Step: uint64(step)})
		if err != nil {
			return nil, err
		}
		if !p.Has {
			return nil, fmt.Errorf("%w: only %d distinct rows of positive weight, K = %d", ErrTooFewPoints, step, k)
		}
		c = append(c, p.Pick.X...)
	}
	return c, nil
}

// parallelInit is k-means|| (Bahmani, Moseley, Vattani, Kumar and
// Vassilvitskii, 2012) as Spark MLlib runs it: one row drawn by weight, then
// steps rounds that each keep every row independently with probability
// min(1, 2K·w·d²/φ), where d² is its squared distance to the candidates so
// far and φ = Σ w·d². The distinct candidates, weighted by the weight of the
// rows nearest to each, are reduced to K centres by k-means++ and 30 Lloyd
// iterations on the driver. Each round costs two passes (φ, then the draw).
// If fewer than K distinct candidates come out, k-means++ draws add the
// rest.
func parallelInit(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, k, steps int, seed uint64) ([]float64, error) {
	d := ds.Cols()
	c, err := plusPlus(ctx, x, ds, nil, 1, seed)
	if err != nil {
		return nil, err
	}
	for round := 0; round < steps; round++ {
		cs := newCentres(c, len(c)/d, d, ds.Sparse())
		phi, err := cluster.Aggregate(ctx, x, ds, costTask, &cs)
		if err != nil {
			return nil, err
		}
		if phi.Cost <= 0 {
			break
		}
		got, err := cluster.Aggregate(ctx, x, ds, sampleTask, &sampleArgs{Centres: cs, Scale: 2 * float64(k) / phi.Cost, Seed: seed, Round: uint64(round)})
		if err != nil {
			return nil, err
		}
		for _, r := range got.Rows {
			c = append(c, r.X...)
		}
	}
	c = distinctRows(c, d)
	n := len(c) / d
	if n <= k {
		return plusPlus(ctx, x, ds, c, k, seed^0x2b)
	}
	cs := newCentres(c, n, d, ds.Sparse())
	share, err := cluster.Aggregate(ctx, x, ds, costTask, &cs)
	if err != nil {
		return nil, err
	}
	return localKMeans(c, share.Weight, n, d, k, 30, rand.New(rand.NewPCG(seed, 0x10ca1))), nil
}

// distinctRows drops rows of c (width d) whose bits equal an earlier row's.
func distinctRows(c []float64, d int) []float64 {
	seen := map[string]bool{}
	key := make([]byte, 8*d)
	out := c[:0:0]
	for i := 0; i < len(c)/d; i++ {
		row := c[i*d : (i+1)*d]
		for l, v := range row {
			binary.LittleEndian.PutUint64(key[8*l:], math.Float64bits(v))
		}
		if !seen[string(key)] {
			seen[string(key)] = true
			out = append(out, row...)
		}
	}
	return out
}

// localKMeans reduces n weighted points (width d) to k centres: weighted
// k-means++ seeding, then up to iters weighted Lloyd iterations. Used on
// the k-means|| candidates, on the driver; n > k.
func localKMeans(pts, w []float64, n, d, k, iters int, rng *rand.Rand) []float64 {
	c := make([]float64, 0, k*d)
	chosen := make([]bool, n)
	first := pickWeighted(rng, n, func(i int) float64 { return w[i] })
	if first < 0 {
		first = 0
	}
	c = append(c, pts[first*d:(first+1)*d]...)
	chosen[first] = true
	cost := make([]float64, n)
	for i := range n {
		cost[i] = sqDist(pts[i*d:(i+1)*d], c[:d])
	}
	for len(c) < k*d {
		j := pickWeighted(rng, n, func(i int) float64 { return w[i] * cost[i] })
		if j < 0 || chosen[j] { // all remaining weight is zero: take the first unchosen point
			j = slices.Index(chosen, false)
		}
		chosen[j] = true
		cj := pts[j*d : (j+1)*d]
		c = append(c, cj...)
		for i := range n {
			cost[i] = min(cost[i], sqDist(pts[i*d:(i+1)*d], cj))
		}
	}
	g := make([]float64, n*k)
	cn := make([]float64, k)
	sums := make([]float64, k*d)
	wsum := make([]float64, k)
	for range iters {
		for j := range k {
			cn[j] = sqNorm(c[j*d : (j+1)*d])
		}
		tile.Products(g, pts, n, c, k, d)
		clear(sums)
		clear(wsum)
		for i := range n {
			j, _ := nearest(g[i*k:(i+1)*k], cn)
			wsum[j] += w[i]
			for l, v := range pts[i*d : (i+1)*d] {
				sums[j*d+l] += w[i] * v
			}
		}
		moved := false
		for j := range k {
			if wsum[j] == 0 {
				continue // a local empty cluster keeps its centre
			}
			for l := range d {
				v := sums[j*d+l] / wsum[j]
				if v != c[j*d+l] {
					c[j*d+l], moved = v, true
				}
			}
		}
		if !moved {
			break
		}
	}
	return c
}

// pickWeighted draws i in [0, n) with probability weight(i)/Σ weight, or
// returns -1 when every weight is zero.
func pickWeighted(rng *rand.Rand, n int, weight func(int) float64) int {
	total := 0.0
	for i := range n {
		total += weight(i)
	}
	if !(total > 0) {
		return -1
	}
	r := rng.Float64() * total
	acc, last := 0.0, -1
	for i := range n {
		wi := weight(i)
		if wi <= 0 {
			continue
		}
		acc += wi
		last = i
		if acc > r {
			return i
		}
	}
	return last
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for l, v := range a {
		t := v - b[l]
		s += t * t
	}
	return s
}
