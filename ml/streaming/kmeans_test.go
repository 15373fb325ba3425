package streaming

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/kmeans"
)

// blobs draws rows around centres (k×dim) with standard deviation sd.
func blobs(r *rand.Rand, centres []float64, k, dim, rows int, sd float64) []float64 {
	x := make([]float64, rows*dim)
	for i := 0; i < rows; i++ {
		j := r.IntN(k)
		for t := 0; t < dim; t++ {
			x[i*dim+t] = centres[j*dim+t] + sd*r.NormFloat64()
		}
	}
	return x
}

// matchError is the largest distance from a centre of want to the nearest
// centre of got.
func matchError(got, want []float64, dim int) float64 {
	worst := 0.0
	for j := 0; j < len(want)/dim; j++ {
		best := math.Inf(1)
		for i := 0; i < len(got)/dim; i++ {
			best = math.Min(best, math.Sqrt(sqDist(want[j*dim:(j+1)*dim], got[i*dim:(i+1)*dim])))
		}
		worst = math.Max(worst, best)
	}
	return worst
}

var blobCentres = []float64{
	0, 0, 0, 0,
	10, 0, 0, 0,
	0, 10, 0, 0,
	0, 0, 10, 10,
}

// TestKMeansConvergesToBatch: on a stationary stream of four blobs,
// streaming k-means (decay 1, as MLlib's default) ends within 1e-9 of the
// centres ml/kmeans fits on the same rows, for both time units. (MLlib's
// random initial centres can settle in a local optimum instead, as batch
// k-means from a bad start does; the default seeds by k-means++.)
func TestKMeansConvergesToBatch(t *testing.T) {
	const k, dim, batches, rows = 4, 4, 100, 500
	r := rand.New(rand.NewPCG(7, 7))
	all := blobs(r, blobCentres, k, dim, batches*rows, 1)

	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	ctx := context.Background()
	ds, err := e.FromDense(ctx, "blobs", all, batches*rows, dim, make([]float64, batches*rows), nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := kmeans.Fit(ctx, e, ds, kmeans.Config{K: k, Seed: 3, SilhouetteSample: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  KMeansConfig
	}{
		{"batches", KMeansConfig{K: k, Dim: dim}},
		{"points", KMeansConfig{K: k, Dim: dim, TimeUnit: "points", Decay: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewKMeans(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for b := 0; b < batches; b++ {
				m.Update(all[b*rows*dim:(b+1)*rows*dim], nil)
			}
			got := matchError(m.Centres(), batch.Centres, dim)
			t.Logf("largest distance to the batch centres: %.3g", got)
			if got > 1e-9 {
				t.Errorf("streaming centres %v are %.4f from the batch centres %v; want <= 1e-9", m.Centres(), got, batch.Centres)
			}
			var total float64
			for _, w := range m.Weights() {
				total += w
			}
			if total != batches*rows {
				t.Errorf("weights sum to %v with decay 1, want %d", total, batches*rows)
			}
		})
	}
}

// driftingCentres returns the blob centres after b batches: every centre
// moves 0.05 per batch along its own direction.
func driftingCentres(dst []float64, b int) []float64 {
	dirs := []float64{1, 1, 0, 0, 0, -1, 1, 0, -1, 0, 0, 1, 0, 0, -1, 1}
	for i := range dst {
		dst[i] = 3*blobCentres[i] + 0.05*float64(b)*dirs[i]/math.Sqrt2
	}
	return dst
}

// TestKMeansTracksDrift: with the centres moving 0.05 per batch, a
// half-life of 3 batches (or 600 rows) keeps every centre within 0.5 of the current
// truth after a burn-in of 20 batches; decay 1 (no forgetting) falls
// behind by more than 2.5 by the end, half the distance travelled.
func TestKMeansTracksDrift(t *testing.T) {
	const k, dim, batches, rows, burnIn = 4, 4, 200, 200, 20
	truth := make([]float64, k*dim)
	for _, tc := range []struct {
		name     string
		cfg      KMeansConfig
		worstMax float64 // largest error after the burn-in must stay below
		endMin   float64 // the error at the end must be above
	}{
		{"half-life 3 batches", KMeansConfig{K: k, Dim: dim, HalfLife: 3}, 0.5, 0},
		{"half-life 600 points", KMeansConfig{K: k, Dim: dim, HalfLife: 600, TimeUnit: "points"}, 0.5, 0},
		{"decay 0.7", KMeansConfig{K: k, Dim: dim, Decay: 0.7}, 0.5, 0},
		{"decay 1", KMeansConfig{K: k, Dim: dim}, math.Inf(1), 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, 11))
			m, err := NewKMeans(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			worst, last := 0.0, 0.0
			for b := 0; b < batches; b++ {
				driftingCentres(truth, b)
				m.Update(blobs(r, truth, k, dim, rows, 1), nil)
				last = matchError(m.Centres(), truth, dim)
				if b >= burnIn {
					worst = math.Max(worst, last)
				}
			}
			t.Logf("largest error after batch %d: %.3f; at the end: %.3f", burnIn, worst, last)
			if worst > tc.worstMax {
				t.Errorf("error against the moving centres reached %.3f after the burn-in, want <= %v", worst, tc.worstMax)
			}
			if last < tc.endMin {
				t.Errorf("error at the end is %.3f, want > %v (a model that does not forget lags the drift)", last, tc.endMin)
			}
		})
	}
}

// TestKMeansDyingCluster: two centres seeded on one point; the one that
// gets no rows dies and the largest cluster is split, as MLlib does.
func TestKMeansDyingCluster(t *testing.T) {
	m, err := NewKMeans(KMeansConfig{K: 2, Dim: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetCentres([]float64{0, 0}, []float64{0, 0}); err != nil {
		t.Fatal(err)
	}
	m.Update([]float64{1, 1, 1, 1}, nil) // every row goes to centre 0: centre 1 dies
	w := m.Weights()
	if w[0] != 2 || w[1] != 2 {
		t.Fatalf("weights after the split = %v, want [2 2]", w)
	}
	c := m.Centres()
	if !(c[0] > 1 && c[1] < 1) || math.Abs(c[0]-1) > 1e-13 || math.Abs(c[1]-1) > 1e-13 {
		t.Fatalf("centres after the split = %v, want 1±1e-14", c)
	}
	m.Update([]float64{-5, -5, 5, 5}, nil)
	if c := m.Centres(); !(c[0] > 2 && c[1] < -1) {
		t.Fatalf("the split clusters did not separate: %v", c)
	}
}

// TestKMeansDeterministic: the same stream and seed give the same bits.
func TestKMeansDeterministic(t *testing.T) {
	run := func() []float64 {
		r := rand.New(rand.NewPCG(3, 3))
		m, err := NewKMeans(KMeansConfig{K: 4, Dim: 4, HalfLife: 3, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; b < 20; b++ {
			m.Update(blobs(r, blobCentres, 4, 4, 100, 2), nil)
		}
		return append([]float64(nil), m.Centres()...)
	}
	a, b := run(), run()
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			t.Fatalf("two runs differ at %d: %v vs %v", i, a[i], b[i])
		}
	}
}

func TestKMeansConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  KMeansConfig
		want string
	}{
		{KMeansConfig{K: 0, Dim: 1}, "K must be at least 1"},
		{KMeansConfig{K: 2, Dim: 0}, "Dim must be at least 1"},
		{KMeansConfig{K: 2, Dim: 1, Decay: 1.5}, "Decay must be in (0, 1]"},
		{KMeansConfig{K: 2, Dim: 1, Decay: 0.5, HalfLife: 2}, "not both"},
		{KMeansConfig{K: 2, Dim: 1, TimeUnit: "seconds"}, "TimeUnit"},
		{KMeansConfig{K: 2, Dim: 1, Init: "k-means||"}, "Init"},
	} {
		if _, err := NewKMeans(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewKMeans(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}
