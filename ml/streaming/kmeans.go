package streaming

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/flintml/flint/ml/kmeans"
)

// KMeansConfig configures streaming k-means. Zero fields take the defaults
// given.
type KMeansConfig struct {
	// K is the number of clusters, at least 1. Required.
	K int
	// Dim is the number of features of a row, at least 1. Required.
	Dim int
	// Decay is the weight the past keeps per time unit, in (0, 1]. 0 means
	// 1: every row ever seen weighs the same (MLlib's default).
	Decay float64
	// HalfLife, when > 0, sets Decay to 0.5^(1/HalfLife): the past loses
	// half its weight every HalfLife time units. It excludes Decay.
	HalfLife float64
	// TimeUnit is what Decay and HalfLife count: "batches" (default) or
	// "points" (rows).
	TimeUnit string
	// Init places the first centres: "kmeans++" (default: seeded k-means++
	// seeding on the first batch, weight 0, so the first batch's means
	// become the centres) or "random" (MLlib's setRandomCenters: standard
	// normal coordinates, each with weight InitWeight).
	Init string
	// InitWeight is the weight of each random centre (Init "random").
	InitWeight float64
	// Seed seeds the initial centres. 0 means 1.
	Seed uint64
}

// decay returns the discount per time unit.
func (c KMeansConfig) decay() float64 {
	switch {
	case c.HalfLife > 0:
		return math.Exp(math.Log(0.5) / c.HalfLife)
	case c.Decay == 0:
		return 1
	}
	return c.Decay
}

func (c KMeansConfig) validate() error {
	switch {
	case c.K < 1:
		return fmt.Errorf("streaming: k-means: K must be at least 1, got %d", c.K)
	case c.Dim < 1:
		return fmt.Errorf("streaming: k-means: Dim must be at least 1, got %d", c.Dim)
	case c.Decay < 0 || c.Decay > 1 || math.IsNaN(c.Decay):
		return fmt.Errorf("streaming: k-means: Decay must be in (0, 1], got %v", c.Decay)
	case c.HalfLife < 0 || math.IsNaN(c.HalfLife) || math.IsInf(c.HalfLife, 0):
		return fmt.Errorf("streaming: k-means: HalfLife must be a positive number, got %v", c.HalfLife)
	case c.HalfLife > 0 && c.Decay != 0:
		return errors.New("streaming: k-means: give Decay or HalfLife, not both")
	case c.InitWeight < 0:
		return fmt.Errorf("streaming: k-means: InitWeight must not be negative, got %v", c.InitWeight)
	}
	switch c.TimeUnit {
	case "", "batches", "points":
	default:
		return fmt.Errorf("streaming: k-means: TimeUnit must be batches or points, got %q", c.TimeUnit)
	}
	switch c.Init {
	case "", "kmeans++", "random":
	default:
		return fmt.Errorf("streaming: k-means: Init must be kmeans++ or random, got %q", c.Init)
	}
	return nil
}

// KMeans is a streaming k-means model. It is not safe for concurrent use.
type KMeans struct {
	k, dim  int
	decay   float64
	points  bool // the decay counts rows, not batches
	cfg     KMeansConfig
	centres []float64 // k×dim, row-major
	weights []float64 // k
	ready   bool      // the centres are placed

	sums   []float64 // k×dim scratch: the batch's row sums per cluster
	counts []float64 // k scratch: the batch's weight per cluster
	dist   []float64 // scratch for k-means++ seeding, grown to the first batch

	// Batches and Rows count what Update has seen.
	Batches, Rows int64
	// Cost is Σ w·‖x − c(x)‖² of the last batch against the centres it was
	// assigned by, divided by the batch's weight: the mean squared distance.
	Cost float64
}

// NewKMeans returns a model with no centres yet: the first Update places
// them as cfg.Init says.
func NewKMeans(cfg KMeansConfig) (*KMeans, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	m := &KMeans{k: cfg.K, dim: cfg.Dim, decay: cfg.decay(), points: cfg.TimeUnit == "points", cfg: cfg,
		centres: make([]float64, cfg.K*cfg.Dim), weights: make([]float64, cfg.K),
		sums: make([]float64, cfg.K*cfg.Dim), counts: make([]float64, cfg.K), Cost: math.NaN()}
	if cfg.Init == "random" {
		r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
		for i := range m.centres {
			m.centres[i] = r.NormFloat64()
		}
		for j := range m.weights {
			m.weights[j] = cfg.InitWeight
		}
		m.ready = true
	}
	return m, nil
}

// K is the number of clusters and Dim the number of features.
func (m *KMeans) K() int   { return m.k }
func (m *KMeans) Dim() int { return m.dim }

// Decay is the discount per time unit the model applies.
func (m *KMeans) Decay() float64 { return m.decay }

// Centres returns the k×Dim centres, row-major; the slice is the model's
// own and changes with the next Update. Weights likewise returns the
// clusters' weights.
func (m *KMeans) Centres() []float64 { return m.centres }
func (m *KMeans) Weights() []float64 { return m.weights }

// Ready reports whether the centres are placed (by Init "random", a first
// Update, or SetCentres).
func (m *KMeans) Ready() bool { return m.ready }

// SetCentres places the centres and their weights, e.g. those of a model
// published earlier, to resume from. It copies both.
func (m *KMeans) SetCentres(centres, weights []float64) error {
	if len(centres) != m.k*m.dim || len(weights) != m.k {
		return fmt.Errorf("streaming: k-means: %d centre values and %d weights for K = %d, Dim = %d", len(centres), len(weights), m.k, m.dim)
	}
	for _, w := range weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("streaming: k-means: weight %v is not a finite, non-negative number", w)
		}
	}
	copy(m.centres, centres)
	copy(m.weights, weights)
	m.ready = true
	return nil
}

// Update folds one mini-batch into the model: x is rows×Dim, row-major,
// and w the rows' weights (nil: each row weighs 1). It panics if the
// shapes disagree. An empty batch still discounts the weights when the
// time unit is batches, as an empty MLlib batch does.
func (m *KMeans) Update(x, w []float64) {
	d := m.dim
	if len(x)%d != 0 || (w != nil && len(w) != len(x)/d) {
		panic(fmt.Sprintf("streaming: KMeans.Update: %d values and %d weights for rows of %d features", len(x), len(w), d))
	}
	rows := len(x) / d
	if !m.ready {
		if rows == 0 {
			return
		}
		m.seed(x, rows)
	}
	clear(m.sums)
	clear(m.counts)
	var cost, total float64
	for i := 0; i < rows; i++ {
		row := x[i*d : (i+1)*d]
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		j, dist := m.nearest(row)
		cost += wi * dist
		total += wi
		m.counts[j] += wi
		s := m.sums[j*d : (j+1)*d]
		for t, v := range row {
			s[t] += wi * v
		}
	}
	m.Batches++
	m.Rows += int64(rows)
	if total > 0 {
		m.Cost = cost / total
	}
	discount := m.decay
	if m.points {
		discount = math.Pow(m.decay, total)
	}
	for j := range m.weights {
		m.weights[j] *= discount
	}
	for j, n := range m.counts {
		if n == 0 {
			continue
		}
		updated := m.weights[j] + n
		lambda := n / math.Max(updated, 1e-16)
		m.weights[j] = updated
		c, s := m.centres[j*d:(j+1)*d], m.sums[j*d:(j+1)*d]
		for t := range c {
			c[t] = (1-lambda)*c[t] + lambda/n*s[t]
		}
	}
	m.splitDying()
}

// splitDying splits the largest cluster in two when the smallest has less
// than 1e-8 of its weight (MLlib's rule).
func (m *KMeans) splitDying() {
	largest, smallest := 0, 0
	for j, w := range m.weights {
		if w > m.weights[largest] {
			largest = j
		}
		if w < m.weights[smallest] {
			smallest = j
		}
	}
	maxW, minW := m.weights[largest], m.weights[smallest]
	if largest == smallest || !(minW < 1e-8*maxW) {
		return
	}
	w := (maxW + minW) / 2
	m.weights[largest], m.weights[smallest] = w, w
	d := m.dim
	big, small := m.centres[largest*d:(largest+1)*d], m.centres[smallest*d:(smallest+1)*d]
	for t, v := range big {
		p := 1e-14 * math.Max(math.Abs(v), 1)
		big[t], small[t] = v+p, v-p
	}
}

// nearest returns the closest centre to row and the squared distance; ties
// go to the lower index.
func (m *KMeans) nearest(row []float64) (int, float64) {
	d := m.dim
	best, bestD := 0, math.Inf(1)
	for j := 0; j < m.k; j++ {
		c := m.centres[j*d : (j+1)*d]
		var s float64
		for t, v := range row {
			e := v - c[t]
			s += e * e
		}
		if s < bestD {
			best, bestD = j, s
		}
	}
	return best, bestD
}

// seed places the centres by k-means++ seeding on the first batch: the
// first centre uniformly, each next one with probability proportional to
// the squared distance to the nearest centre placed. With fewer distinct
// rows than K, the extra centres repeat a row; they receive no rows, die,
// and are split off the largest cluster later.
func (m *KMeans) seed(x []float64, rows int) {
	d := m.dim
	r := rand.New(rand.NewPCG(m.cfg.Seed, 0x5eed))
	if cap(m.dist) < rows {
		m.dist = make([]float64, rows)
	}
	dist := m.dist[:rows]
	first := r.IntN(rows)
	copy(m.centres[:d], x[first*d:(first+1)*d])
	for i := range dist {
		dist[i] = sqDist(x[i*d:(i+1)*d], m.centres[:d])
	}
	for j := 1; j < m.k; j++ {
		var total float64
		for _, v := range dist {
			total += v
		}
		pick := r.IntN(rows)
		if total > 0 {
			u := r.Float64() * total
			for i, v := range dist {
				u -= v
				if u < 0 || i == rows-1 {
					pick = i
					break
				}
			}
		}
		c := m.centres[j*d : (j+1)*d]
		copy(c, x[pick*d:(pick+1)*d])
		for i := range dist {
			dist[i] = math.Min(dist[i], sqDist(x[i*d:(i+1)*d], c))
		}
	}
	m.ready = true
}

func sqDist(a, b []float64) float64 {
	var s float64
	for t, v := range a {
		e := v - b[t]
		s += e * e
	}
	return s
}

// PredictBatch writes each row's nearest centre into dst (len(x)/Dim
// rows), as ml/kmeans predicts.
func (m *KMeans) PredictBatch(dst, x []float64) {
	d := m.dim
	for i := range dst {
		j, _ := m.nearest(x[i*d : (i+1)*d])
		dst[i] = float64(j)
	}
}

// Model returns a snapshot of the centres as an ml/kmeans model, which
// serving and the batch trainer encode alike. Sizes are the weights
// rounded, Inertia the last batch's Cost (NaN before any batch),
// Silhouette NaN (not computed) and Iterations the number of batches.
func (m *KMeans) Model() *kmeans.Model {
	sizes := make([]int64, m.k)
	for j, w := range m.weights {
		sizes[j] = int64(math.Round(w))
	}
	return &kmeans.Model{K: m.k, Dim: m.dim, Centres: append([]float64(nil), m.centres...), Sizes: sizes,
		Inertia: m.Cost, Silhouette: math.NaN(), Iterations: int(m.Batches)}
}
