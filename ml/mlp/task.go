package mlp

import (
	"context"
	"fmt"
	"math"

	"github.com/flintml/flint/cluster"
)

// scanArgs is the broadcast of the scan task: whether labels must be class
// indices.
type scanArgs struct {
	Classify bool
}

// scanStats is what the scan learns about the data.
type scanStats struct {
	Rows     int
	Weight   float64 // sum of sample weights
	MaxLabel float64
	// Bad describes the first row (in partition order) that cannot be
	// trained on; "" if there is none.
	Bad string
}

// scanTask checks every row once before training: finite features, finite
// non-negative weights, and integral non-negative labels for
// classification. It also counts rows and finds the largest label.
var scanTask = cluster.Register(&cluster.Task[scanArgs, scanStats]{
	Name: "ml.mlp.scan",
	New:  func(*scanArgs) *scanStats { return &scanStats{MaxLabel: math.Inf(-1)} },
	Map: func(ctx context.Context, part cluster.Part, a *scanArgs, acc *scanStats) error {
		b := part.Block
		if b.Float32() {
			return fmt.Errorf("mlp: partition %d holds float32 rows; the MLP reads float64 rows only", part.Index)
		}
		bad := func(i int, format string, args ...any) error {
			acc.Bad = fmt.Sprintf("partition %d row %d: %s", part.Index, i, fmt.Sprintf(format, args...))
			return nil
		}
		for i := 0; i < b.Rows; i++ {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var xs []float64
			if b.Sparse() {
				_, xs = b.SparseRow(i)
			} else {
				xs = b.Row(i)
			}
			for j, v := range xs {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return bad(i, "feature value %v (position %d) is not finite", v, j)
				}
			}
			y, w := b.Y[i], b.Weight(i)
			if !(w >= 0) || math.IsInf(w, 0) {
				return bad(i, "sample weight %v must be finite and >= 0", w)
			}
			if math.IsNaN(y) || math.IsInf(y, 0) {
				return bad(i, "label %v is not finite", y)
			}
			if a.Classify && (y < 0 || y != math.Trunc(y) || y > maxClasses) {
				return bad(i, "label %v is not a class index 0, 1, 2, ...", y)
			}
			acc.MaxLabel = max(acc.MaxLabel, y)
			acc.Weight += w
		}
		acc.Rows += b.Rows
		return nil
	},
	Combine: func(dst, src *scanStats) {
		dst.Rows += src.Rows
		dst.Weight += src.Weight
		dst.MaxLabel = max(dst.MaxLabel, src.MaxLabel)
		if dst.Bad == "" {
			dst.Bad = src.Bad // dst holds the earlier partitions
		}
	},
})

// maxClasses bounds the number of classes, so that a stray huge label
// fails clearly instead of allocating a huge output layer.
const maxClasses = 1 << 16

// stepArgs is the broadcast of one training iteration: the network, its
// current parameters, and what each partition samples.
type stepArgs struct {
	Sizes      []int
	Activation Activation
	Output     Output
	Params     []float64
	L2         float64

	Seed   uint64
	Epoch  int   // which permutation of each partition's rows
	Step   int   // which slice of it, within the epoch
	Shares []int // rows each partition contributes, by partition index
	Full   bool  // every partition contributes all its rows, in order
}

// stepResult is the summed loss and gradient over the rows a partition (or
// a subtree of partitions) sampled.
type stepResult struct {
	Loss   float64   // Σ rᵢ·ℓᵢ + (λ/2)·(Σ rᵢ)·Σ‖W‖²
	Grad   []float64 // its gradient, flat like Model.Params
	Weight float64   // Σ rᵢ over the sampled rows
	Rows   int       // rows sampled
}

// stepTask computes one partition's share of a mini-batch gradient on a
// cached gorgonia graph.
var stepTask = cluster.Register(&cluster.Task[stepArgs, stepResult]{
	Name: "ml.mlp.step",
	New:  func(a *stepArgs) *stepResult { return &stepResult{Grad: make([]float64, len(a.Params))} },
	Map: func(ctx context.Context, part cluster.Part, a *stepArgs, acc *stepResult) error {
		if part.Index >= len(a.Shares) {
			return fmt.Errorf("mlp: partition %d has no mini-batch share (%d shares)", part.Index, len(a.Shares))
		}
		share := a.Shares[part.Index]
		if share == 0 {
			return nil
		}
		b := part.Block
		if b.Cols != a.Sizes[0] {
			return fmt.Errorf("mlp: partition %d has %d features, the network %d inputs", part.Index, b.Cols, a.Sizes[0])
		}
		if len(a.Params) != numParams(a.Sizes) {
			return fmt.Errorf("mlp: %d parameters for layer sizes %v, want %d", len(a.Params), a.Sizes, numParams(a.Sizes))
		}
		ng, err := graphs.get(a.Sizes, a.Activation, a.Output, share)
		if err != nil {
			return err
		}
		defer graphs.put(ng)
		rows := sampleRows(a, part.Index, b.Rows, share)
		weight, err := ng.load(b, rows)
		if err != nil {
			return fmt.Errorf("mlp: partition %d: %w", part.Index, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		ng.setParams(a.Params)
		loss, err := ng.run(a.L2 / 2 * weight)
		if err != nil {
			return err
		}
		acc.Loss += loss
		acc.Weight += weight
		acc.Rows += share
		return ng.addGrad(acc.Grad)
	},
	Combine: func(dst, src *stepResult) {
		dst.Loss += src.Loss
		dst.Weight += src.Weight
		dst.Rows += src.Rows
		for i, g := range src.Grad {
			dst.Grad[i] += g
		}
	},
})

// sampleRows returns the indices of the rows partition p contributes to the
// iteration: all of them in order for a full batch; otherwise positions
// [Step·share, (Step+1)·share) (wrapping around) of a permutation of the
// partition's rows drawn from (Seed, Epoch, p). Over an epoch the partition
// so visits each of its rows about once, and the choice depends only on the
// seed, the iteration and the partition.
func sampleRows(a *stepArgs, p, n, share int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if a.Full || n == 0 {
		return idx[:min(share, n)]
	}
	rng := newSplitMix(a.Seed ^ mix(uint64(a.Epoch)+1, uint64(p)+1))
	for i := n - 1; i > 0; i-- {
		j := int(rng.next() % uint64(i+1))
		idx[i], idx[j] = idx[j], idx[i]
	}
	out := make([]int, share)
	start := a.Step * share
	for k := range out {
		out[k] = idx[(start+k)%n]
	}
	return out
}

// load copies the chosen rows of b into the graph's inputs (densifying
// sparse rows), with one-hot or real targets and row weights, and returns
// the rows' total weight.
func (ng *netGraph) load(b *cluster.Block, rows []int) (float64, error) {
	if len(rows) != ng.rows {
		return 0, fmt.Errorf("%d rows for a graph over %d", len(rows), ng.rows)
	}
	x := ng.x.Data().([]float64)
	t := ng.t.Data().([]float64)
	r := ng.r.Data().([]float64)
	d, k := ng.sizes[0], ng.sizes[len(ng.sizes)-1]
	clear(t)
	total := 0.0
	for i, row := range rows {
		dst := x[i*d : (i+1)*d]
		if b.Sparse() {
			clear(dst)
			ind, val := b.SparseRow(row)
			for j, c := range ind {
				dst[c] = val[j]
			}
		} else {
			copy(dst, b.Row(row))
		}
		y := b.Y[row]
		switch ng.out {
		case Softmax:
			c := int(y)
			if float64(c) != y || c < 0 || c >= k {
				return 0, fmt.Errorf("row %d: label %v is not a class index in [0, %d)", row, y, k)
			}
			t[i*k+c] = 1
		case Identity:
			t[i] = y
		}
		r[i] = b.Weight(row)
		total += r[i]
	}
	return total, nil
}

// splitMix is SplitMix64: a small, fully specified generator, so that
// sampling and initialisation do not depend on the Go release.
type splitMix struct{ s uint64 }

func newSplitMix(seed uint64) *splitMix { return &splitMix{s: seed} }

func (r *splitMix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a uniform number in [0, 1).
func (r *splitMix) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// mix combines two integers into one well-spread seed.
func mix(a, b uint64) uint64 {
	r := splitMix{s: a*0x9e3779b97f4a7c15 ^ b}
	return r.next()
}
