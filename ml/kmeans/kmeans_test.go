package kmeans

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/datasets"
	"github.com/flintml/flint/ml/internal/mltest"
)

func newEngine(t testing.TB, workers int) *cluster.Engine {
	t.Helper()
	e := cluster.NewEngine(cluster.Config{Workers: workers})
	t.Cleanup(func() { e.Close() })
	return e
}

// blobs returns n rows of dim features in k well-separated Gaussian blobs
// (unit spread, centres ~100 apart) with each row's true blob as label,
// rows in a shuffled order.
func blobs(n, dim, k int, seed uint64) (x, y []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	centres := make([]float64, k*dim)
	for i := range centres {
		centres[i] = 100 * rng.NormFloat64()
	}
	x, y = make([]float64, n*dim), make([]float64, n)
	for i := range n {
		c := rng.IntN(k)
		y[i] = float64(c)
		for l := range dim {
			x[i*dim+l] = centres[c*dim+l] + rng.NormFloat64()
		}
	}
	return x, y
}

// sparseBlocks cuts dense rows into parts CSR blocks (zeros dropped).
func sparseBlocks(x, y []float64, dim, parts int) []*cluster.Block {
	n := len(y)
	out := make([]*cluster.Block, parts)
	for p := range parts {
		b := cluster.NewSparseBuilder(dim)
		for i := p * n / parts; i < (p+1)*n/parts; i++ {
			var ind []int32
			var val []float64
			for l, v := range x[i*dim : (i+1)*dim] {
				if v != 0 {
					ind, val = append(ind, int32(l)), append(val, v)
				}
			}
			if err := b.AddSparse(ind, val, y[i], 1); err != nil {
				panic(err)
			}
		}
		out[p] = b.Block()
	}
	return out
}

// checkRecovered asserts that m put every row of each true blob in one
// cluster of its own, and that each centre is that blob's mean.
func checkRecovered(t *testing.T, m *Model, x, y []float64, dim, k int) {
	t.Helper()
	labels, err := m.PredictBatch(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	blobOf := map[int]int{} // cluster → true blob
	clusterOf := map[int]int{}
	sums, counts := make([]float64, k*dim), make([]int, k)
	for i, c := range labels {
		b := int(y[i])
		if prev, ok := clusterOf[b]; ok && prev != c {
			t.Fatalf("row %d of blob %d is in cluster %d, earlier rows of the blob in %d", i, b, c, prev)
		}
		if prev, ok := blobOf[c]; ok && prev != b {
			t.Fatalf("cluster %d holds rows of blobs %d and %d", c, prev, b)
		}
		clusterOf[b], blobOf[c] = c, b
		counts[c]++
		for l := range dim {
			sums[c*dim+l] += x[i*dim+l]
		}
	}
	if len(blobOf) != k {
		t.Fatalf("rows fall in %d clusters, want %d", len(blobOf), k)
	}
	for c := range k {
		if m.Sizes[c] != int64(counts[c]) {
			t.Errorf("Sizes[%d] = %d, but %d rows predict it", c, m.Sizes[c], counts[c])
		}
		for l := range dim {
			mean := sums[c*dim+l] / float64(counts[c])
			if got := m.Centres[c*dim+l]; math.Abs(got-mean) > 1e-9*(1+math.Abs(mean)) {
				t.Fatalf("centre %d feature %d = %v, blob mean %v", c, l, got, mean)
			}
		}
	}
}

func TestRecoversSeparatedClusters(t *testing.T) {
	const n, dim, k = 3000, 8, 6
	x, y := blobs(n, dim, k, 1)
	ctx := context.Background()
	e := newEngine(t, 2)
	dense, err := e.FromDense(ctx, "blobs", x, n, dim, y, nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	sparse, err := e.FromBlocks(ctx, "blobs sparse", sparseBlocks(x, y, dim, 5))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ds   *cluster.Dataset
		init string
	}{{dense, InitParallel}, {dense, InitPlusPlus}, {sparse, InitParallel}, {sparse, InitPlusPlus}} {
		t.Run(fmt.Sprintf("sparse=%v/init=%s", c.ds.Sparse(), c.init), func(t *testing.T) {
			m, err := Fit(ctx, e, c.ds, Config{K: k, Init: c.init, Seed: 7, MaxIter: 50})
			if err != nil {
				t.Fatal(err)
			}
			if !m.Converged {
				t.Errorf("did not converge in %d iterations", m.Iterations)
			}
			checkRecovered(t, m, x, y, dim, k)
			if !(m.Silhouette > 0.9) {
				t.Errorf("silhouette %v on well-separated blobs, want > 0.9", m.Silhouette)
			}
		})
	}
}

func TestRandomInitWithRuns(t *testing.T) {
	const n, dim, k = 2000, 4, 3
	x, y := blobs(n, dim, k, 2)
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromDense(ctx, "blobs", x, n, dim, y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	one, err := Fit(ctx, e, ds, Config{K: k, Init: InitRandom, Seed: 3, SilhouetteSample: -1})
	if err != nil {
		t.Fatal(err)
	}
	best, err := Fit(ctx, e, ds, Config{K: k, Init: InitRandom, Seed: 3, Runs: 12, SilhouetteSample: -1})
	if err != nil {
		t.Fatal(err)
	}
	if best.Inertia > one.Inertia {
		t.Errorf("best of 12 runs has inertia %v, more than run 1's %v", best.Inertia, one.Inertia)
	}
	checkRecovered(t, best, x, y, dim, k)
	if !math.IsNaN(best.Silhouette) {
		t.Errorf("silhouette %v with SilhouetteSample < 0, want NaN", best.Silhouette)
	}
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	const n, dim, k = 4000, 10, 5
	x, y := blobs(n, dim, k, 3)
	for i := range x { // overlapping clusters: many iterations, float order matters
		x[i] *= 0.05 * float64(1+i%7)
	}
	ctx := context.Background()
	for _, init := range []string{InitParallel, InitPlusPlus, InitRandom} {
		var ref *Model
		for _, workers := range []int{1, 2, 8} {
			e := newEngine(t, workers)
			ds, err := e.FromDense(ctx, "blobs", x, n, dim, y, nil, 8)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Fit(ctx, e, ds, Config{K: k, Init: init, Seed: 11, MaxIter: 30, Runs: 2})
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = m
				continue
			}
			if !mltest.BitsEqual(m.Centres, ref.Centres) || m.Inertia != ref.Inertia || m.Iterations != ref.Iterations ||
				math.Float64bits(m.Silhouette) != math.Float64bits(ref.Silhouette) || !slices.Equal(m.Sizes, ref.Sizes) {
				t.Errorf("init %s: %d workers gave a different model than 1 worker (inertia %v vs %v, %d vs %d iterations)",
					init, workers, m.Inertia, ref.Inertia, m.Iterations, ref.Iterations)
			}
		}
	}
}

func TestSparseMatchesDense(t *testing.T) {
	const n, dim, k = 1500, 12, 4
	x, y := blobs(n, dim, k, 4)
	for i := range x { // many zeros, overlapping clusters
		if i%3 != 0 {
			x[i] = 0
		} else {
			x[i] *= 0.02
		}
	}
	ctx := context.Background()
	e := newEngine(t, 2)
	dense, err := e.FromDense(ctx, "d", x, n, dim, y, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	sparse, err := e.FromBlocks(ctx, "s", sparseBlocks(x, y, dim, 3))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{K: k, InitialCentres: slices.Clone(x[:k*dim]), MaxIter: 40, SilhouetteSample: -1}
	md, err := Fit(ctx, e, dense, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Fit(ctx, e, sparse, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !mltest.BitsEqual(md.Centres, ms.Centres) || !slices.Equal(md.Sizes, ms.Sizes) || md.Iterations != ms.Iterations {
		t.Errorf("sparse and dense runs differ: sizes %v vs %v", ms.Sizes, md.Sizes)
	}
	if math.Abs(md.Inertia-ms.Inertia) > 1e-9*md.Inertia {
		t.Errorf("inertia dense %v, sparse %v", md.Inertia, ms.Inertia)
	}
}

func TestEmptyClusterReseededFromFarthestRow(t *testing.T) {
	// Two groups on a line, and a third initial centre far from both: it
	// gets no rows, so it must take the row farthest from its own centre.
	var x []float64
	for i := range 100 {
		x = append(x, float64(i)*0.01) // 0 … 0.99, centre 0.5: row 0 is farthest (0.5)
	}
	for i := range 100 {
		x = append(x, 10.2+float64(i)*0.01) // 10.2 … 11.19, centre 10.7: 0.49 at most
	}
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromDense(ctx, "line", x, len(x), 1, make([]float64, len(x)), nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Fit(ctx, e, ds, Config{K: 3, InitialCentres: []float64{0.5, 10.7, 1000}, MaxIter: 1, SilhouetteSample: -1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Centres[2] != 0 {
		t.Errorf("empty cluster re-seeded at %v, want the farthest row 0", m.Centres[2])
	}
	want := 0.0
	for _, v := range x[1:100] {
		want += v
	}
	want /= 99
	if math.Abs(m.Centres[0]-want) > 1e-12 {
		t.Errorf("the farthest row's old cluster has centre %v, want the mean of the others %v", m.Centres[0], want)
	}
	if slices.Contains(m.Sizes, 0) {
		t.Errorf("sizes %v after re-seeding", m.Sizes)
	}
}

// TestEmptyClusterReseededFloat32: the same re-seeding from a float32
// block, whose candidates carry the block's float32 row (farPoint.X32)
// and are widened only when one is taken. The values are multiples of
// 1/128, exact in float32, so the fit must equal the float64 one.
func TestEmptyClusterReseededFloat32(t *testing.T) {
	var x []float64
	for i := range 100 {
		x = append(x, 1+float64(i)/128) // centre 1.5: row 0 is farthest (0.5)
	}
	for i := range 100 {
		x = append(x, 11.25+float64(i)/128) // centre 11.7: 0.45 at most
	}
	ctx := context.Background()
	e := newEngine(t, 2)
	ds64, err := e.FromDense(ctx, "line", x, len(x), 1, make([]float64, len(x)), nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	blocks := make([]*cluster.Block, 2)
	for p := range blocks {
		b := cluster.NewDense32Builder(1, 100)
		for _, v := range x[p*100 : (p+1)*100] {
			if err := b.AddDense([]float64{v}, 0, 1); err != nil {
				t.Fatal(err)
			}
		}
		blocks[p] = b.Block()
	}
	ds32, err := e.FromBlocks(ctx, "line32", blocks)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{K: 3, InitialCentres: []float64{1.5, 11.7, 1000}, MaxIter: 1, SilhouetteSample: -1}
	m64, err := Fit(ctx, e, ds64, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m32, err := Fit(ctx, e, ds32, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m32.Centres[2] != 1 {
		t.Errorf("float32: empty cluster re-seeded at %v, want the farthest row, 1", m32.Centres[2])
	}
	if !mltest.BitsEqual(m32.Centres, m64.Centres) || !slices.Equal(m32.Sizes, m64.Sizes) {
		t.Errorf("float32 fit %v (sizes %v), float64 fit %v (sizes %v)", m32.Centres, m32.Sizes, m64.Centres, m64.Sizes)
	}
}

func TestTooFewDistinctRows(t *testing.T) {
	x := []float64{1, 1, 1, 2, 2, 2, 3, 3}
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromDense(ctx, "few", x, len(x), 1, make([]float64, len(x)), nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, init := range []string{InitParallel, InitPlusPlus} {
		if _, err := Fit(ctx, e, ds, Config{K: 4, Init: init}); !errors.Is(err, ErrTooFewPoints) {
			t.Errorf("init %s: K = 4 on 3 distinct rows: err %v, want ErrTooFewPoints", init, err)
		}
		m, err := Fit(ctx, e, ds, Config{K: 3, Init: init})
		if err != nil {
			t.Fatalf("init %s: K = 3 on 3 distinct rows: %v", init, err)
		}
		c := slices.Clone(m.Centres)
		slices.Sort(c)
		if !slices.Equal(c, []float64{1, 2, 3}) || m.Inertia != 0 {
			t.Errorf("init %s: centres %v inertia %v, want 1, 2, 3 and 0", init, c, m.Inertia)
		}
	}
}

func TestWeightsCountAsRepeats(t *testing.T) {
	// A weighted row counts as that many copies of it.
	x := []float64{0, 1, 10, 12}
	w := []float64{3, 1, 1, 2}
	rep := []float64{0, 0, 0, 1, 10, 12, 12}
	ctx := context.Background()
	e := newEngine(t, 2)
	ws, err := e.FromDense(ctx, "w", x, 4, 1, make([]float64, 4), w, 2)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := e.FromDense(ctx, "r", rep, len(rep), 1, make([]float64, len(rep)), nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{K: 2, InitialCentres: []float64{0, 10}, SilhouetteSample: -1}
	mw, err := Fit(ctx, e, ws, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mr, err := Fit(ctx, e, rs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(mw.Centres[0]-0.25) > 1e-15 || math.Abs(mw.Centres[1]-34.0/3) > 1e-14 ||
		math.Abs(mw.Inertia-mr.Inertia) > 1e-12 || !slices.Equal(mw.Centres, mr.Centres) {
		t.Errorf("weighted centres %v inertia %v, repeated rows %v inertia %v", mw.Centres, mw.Inertia, mr.Centres, mr.Inertia)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, 1)
	ds, err := e.FromDense(ctx, "small", []float64{1, 2, 3, 4, 5, 6}, 3, 2, make([]float64, 3), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "kmeans: Config.K must be >= 1, got 0"},
		{Config{K: 4}, `kmeans: Config.K = 4 is more than the 3 rows of dataset "small"`},
		{Config{K: 2, Init: "kmeans"}, `kmeans: Config.Init "kmeans": want "k-means||", "k-means++" or "random"`},
		{Config{K: 2, MaxIter: -1}, "kmeans: Config.MaxIter must be >= 0, got -1"},
		{Config{K: 2, InitialCentres: []float64{1, 2, 3}}, "kmeans: Config.InitialCentres has 3 values, want K×Cols = 2×2 = 4"},
		{Config{K: 1, InitialCentres: []float64{1, 2}, Runs: 2}, "kmeans: Config.Runs = 2 with Config.InitialCentres: every run would start from the same centres"},
		{Config{K: 1, InitialCentres: []float64{1, math.NaN()}}, "kmeans: Config.InitialCentres[1] (centre 0, feature 1) is NaN"},
	} {
		if _, err := Fit(ctx, e, ds, c.cfg); err == nil || err.Error() != c.want {
			t.Errorf("Fit(%+v): err %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestCanceled(t *testing.T) {
	x, y := blobs(1000, 3, 3, 5)
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "b", x, 1000, 3, y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Fit(ctx, e, ds, Config{K: 3}); !errors.Is(err, context.Canceled) {
		t.Errorf("Fit on a canceled context: %v", err)
	}
}

func TestSilhouetteMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const n, d, k = 157, 5, 4
	x := make([]float64, n*d)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(k)
	}
	labels[0] = 3 // make cluster 3 hold one row only, to score 0
	for i := 1; i < n; i++ {
		if labels[i] == 3 {
			labels[i] = 2
		}
	}
	want := 0.0
	for i := range n {
		sum, cnt := make([]float64, k), make([]int, k)
		for j := range n {
			cnt[labels[j]]++
			if i != j {
				sum[labels[j]] += math.Sqrt(sqDist(x[i*d:(i+1)*d], x[j*d:(j+1)*d]))
			}
		}
		if cnt[labels[i]] == 1 {
			continue
		}
		a := sum[labels[i]] / float64(cnt[labels[i]]-1)
		b := math.Inf(1)
		for c := range k {
			if c != labels[i] && cnt[c] > 0 {
				b = min(b, sum[c]/float64(cnt[c]))
			}
		}
		want += (b - a) / max(a, b)
	}
	want /= n
	if got := silhouette(x, n, d, labels, k); math.Abs(got-want) > 1e-9 {
		t.Errorf("silhouette %v, brute force %v", got, want)
	}
	if got := silhouette(x, n, d, make([]int, n), k); !math.IsNaN(got) {
		t.Errorf("silhouette of one cluster = %v, want NaN", got)
	}
}

// sklearnReference is what bench/peers/kmeans_fashion_mnist.py --mode
// reference wrote.
type sklearnReference struct {
	Sklearn  string  `json:"sklearn"`
	InitRows []int   `json:"init_rows"`
	MaxIter  int     `json:"max_iter"`
	NIter    int     `json:"n_iter"`
	Inertia  float64 `json:"inertia"`
	Sizes    []int64 `json:"sizes"`
}

// TestFashionMNISTMatchesScikitLearn runs Lloyd's algorithm on the 60 000
// Fashion-MNIST training images from the rows scikit-learn started from and
// compares the inertia with KMeans(algorithm="lloyd", tol=0) there.
func TestFashionMNISTMatchesScikitLearn(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("60 000 × 784 Lloyd iterations: skipped in -short and -race runs")
	}
	raw, err := os.ReadFile("testdata/sklearn_fashion_mnist.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref sklearnReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	s, err := datasets.FashionMNIST("train")
	if err != nil {
		t.Fatal(err)
	}
	init := make([]float64, 0, len(ref.InitRows)*s.Cols)
	for _, r := range ref.InitRows {
		init = append(init, s.X[r*s.Cols:(r+1)*s.Cols]...)
	}
	ctx := context.Background()
	e := newEngine(t, 0)
	ds, err := e.FromDense(ctx, "fashion-mnist", s.X, s.Rows, s.Cols, s.Y, nil, 8)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, err := Fit(ctx, e, ds, Config{K: len(ref.InitRows), InitialCentres: init, MaxIter: ref.MaxIter, Tol: -1, SilhouetteSample: -1})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	rel := math.Abs(m.Inertia-ref.Inertia) / ref.Inertia
	t.Logf("Flint: %d iterations, inertia %.6f in %v (%.1f ms/iteration); scikit-learn %s: %d iterations, inertia %.6f; relative difference %.2g",
		m.Iterations, m.Inertia, took.Round(time.Millisecond), float64(took.Milliseconds())/float64(m.Iterations+1), ref.Sklearn, ref.NIter, ref.Inertia, rel)
	if rel > 0.01 {
		t.Errorf("inertia %v is %.2f%% from scikit-learn's %v", m.Inertia, 100*rel, ref.Inertia)
	}
	if m.Iterations != ref.NIter || !slices.Equal(m.Sizes, ref.Sizes) {
		t.Logf("note: %d iterations and sizes %v; scikit-learn %d and %v", m.Iterations, m.Sizes, ref.NIter, ref.Sizes)
	}
}

// TestLloydSumsInRowOrder: a Lloyd pass's centre sums are the rows added
// one by one in row order, bit for bit, whether the rows go a centre at a
// time after each tile (an unweighted block) or one by one (a weighted
// block, weights 1 and 2 mixed, so no centre's rows change order), over
// several tiles and a width with a tail past the 64-column strips.
func TestLloydSumsInRowOrder(t *testing.T) {
	const n, d, k = 200, 130, 2
	rng := rand.New(rand.NewPCG(61, 62))
	x := make([]float64, n*d)
	for i := range n {
		off := 0.0
		if i%3 == 0 {
			off = 50 // two groups far apart: each row's centre is plain
		}
		for l := range d {
			x[i*d+l] = off + rng.NormFloat64()
		}
	}
	c := make([]float64, k*d)
	for l := range d {
		c[d+l] = 50
	}
	for _, weighted := range []bool{false, true} {
		var w []float64
		if weighted {
			w = make([]float64, n)
			for i := range w {
				w[i] = float64(1 + i%2)
			}
		}
		e := newEngine(t, 1)
		ds, err := e.FromDense(context.Background(), "rows", x, n, d, make([]float64, n), w, 1)
		if err != nil {
			t.Fatal(err)
		}
		p, err := cluster.Aggregate(context.Background(), e, ds, lloydTask, &lloydArgs{Centres: newCentres(c, k, d, false), Far: k})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, k*d)
		for i := range n {
			j := 0
			if i%3 == 0 {
				j = 1
			}
			wi := 1.0
			if weighted {
				wi = w[i]
			}
			dst, row := want[j*d:(j+1)*d], x[i*d:(i+1)*d]
			if wi == 1 {
				for l := range row {
					dst[l] += row[l]
				}
			} else {
				floats.AddScaled(dst, wi, row)
			}
		}
		if !mltest.BitsEqual(p.Sums, want) {
			t.Errorf("weighted=%v: the centre sums are not the rows added in order", weighted)
		}
	}
}
