package als

import (
	"context"
	"fmt"
	"math"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/internal/openblas"
	"github.com/flintml/flint/ml/internal/tile"
)

// solveArgs is the broadcast of a half-iteration: the fixed side's factors
// and what the least-squares problems need besides.
type solveArgs struct {
	Rank  int       // unknowns per row: the factor's rank, plus 1 with biases
	Other []float64 // the other side's factors, row-major, Rank per row
	// YtY is Σ y·yᵀ over every row y of Other (implicit feedback only),
	// Rank×Rank with the upper triangle set.
	YtY      []float64
	Lambda   float64
	Alpha    float64
	Implicit bool
	NonNeg   bool
	// OtherBias, with biases (explicit feedback only), is the other
	// side's biases; a row then fits its ratings less Mean and those
	// biases, and Other's last column is 1 (the row's own bias).
	OtherBias []float64
	Mean      float64
	// Loss asks for each solved row's term of the objective (Config.Tol):
	// lossReg its regularisation λ·n·‖x‖², lossAll that and its data
	// term as well (see solver.loss). lossNone measures nothing.
	Loss lossKind
}

// lossKind is what a half-iteration measures of the objective.
type lossKind uint8

const (
	lossNone lossKind = iota
	lossReg           // the rows' regularisation only (the first half-iteration: its data term is stale by the second)
	lossAll           // the rows' data term and regularisation
)

// solvedBlock is the new factors of the rows of one partition.
type solvedBlock struct {
	Rows []int32   // row numbers on the solved side
	F    []float64 // len(Rows)×Rank
	Loss []float64 // len(Rows): each row's term of the objective (solveArgs.Loss); nil when not measured
}

// solvedPartial lists solved blocks; combining two partials concatenates
// their lists, since the blocks are disjoint.
type solvedPartial struct {
	Blocks []solvedBlock
}

// singularError reports normal equations that Cholesky could not factor.
type singularError struct {
	Row, Ratings int
}

func (e *singularError) Error() string {
	return fmt.Sprintf("normal equations of row %d (%d ratings) are not positive definite", e.Row, e.Ratings)
}

var solveTask = cluster.Register(&cluster.Task[solveArgs, solvedPartial]{
	Name: "ml.als.solve",
	New:  func(*solveArgs) *solvedPartial { return &solvedPartial{} },
	Map: func(ctx context.Context, p cluster.Part, a *solveArgs, acc *solvedPartial) error {
		blk, k := p.Block, a.Rank
		s := newSolver(a)
		out := solvedBlock{Rows: make([]int32, blk.Rows), F: make([]float64, blk.Rows*k)}
		if a.Loss != lossNone {
			out.Loss = make([]float64, blk.Rows)
		}
		for i := range blk.Rows {
			ind, val := blk.SparseRow(i)
			out.Rows[i] = int32(blk.Y[i])
			if err := s.solve(out.F[i*k:(i+1)*k], ind, val); err != nil {
				if se, ok := err.(*singularError); ok {
					se.Row = int(blk.Y[i])
				}
				return err
			}
			if out.Loss != nil {
				out.Loss[i] = s.loss(out.F[i*k : (i+1)*k])
			}
			if i%1024 == 1023 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		acc.Blocks = append(acc.Blocks, out)
		return nil
	},
	Combine: func(dst, src *solvedPartial) { dst.Blocks = append(dst.Blocks, src.Blocks...) },
})

// chunkFor is how many ratings are gathered at once at rank k: about 96 KB
// of factors, which stay in L2 next to the normal matrix while the tiles
// read them, however many ratings a row has.
func chunkFor(k int) int { return min(256, max(32, 12288/k)) }

// solver holds the scratch space of one partition's solves.
type solver struct {
	args  *solveArgs
	k     int
	chunk int
	// w is Rank+1 rounded up to a multiple of 8: the width of y's rows and
	// of yy (see normal).
	w       int
	y       []float64 // chunk×w: the gathered factors as rows, each followed by its rating (explicit feedback)
	yy      []float64 // w×w: Σ y·yᵀ over the gathered rows (tile.Gram), upper blocks; then its Cholesky factor (tile.Cholesky)
	scratch []float64 // Rank×w, for tile.Cholesky
	a       []float64 // Rank×Rank normal matrix (NonNeg and blas only)
	b       []float64 // right-hand side
	res     []float64 // chunk: the ratings less the mean and biases (OtherBias; blas only)
	nn      *nnlsScratch
	count   int // the ratings λ was scaled by in the last solve
	// With solveArgs.Loss == lossAll, the last solve's Σ c·p² (explicit:
	// Σ r², less the mean and biases with biases) and right-hand side.
	sumSq float64
	rhs   []float64
	// blas routes the solve through OpenBLAS (openblas.Enabled: only in
	// the openblas build, where the tests also turn it off to compare).
	blas bool
	yb   []float64 // chunk×Rank: the gathered factors, row-major (blas only)
}

func newSolver(a *solveArgs) *solver {
	k := a.Rank
	s := &solver{args: a, k: k, chunk: chunkFor(k), b: make([]float64, k), blas: openblas.Enabled}
	if a.NonNeg || s.blas {
		s.a = make([]float64, k*k)
	}
	// The tile path's buffers are there in the openblas build too, whose
	// tests turn blas off to compare the two.
	s.w = (k + 1 + 7) &^ 7
	s.y = make([]float64, s.w*s.chunk)
	s.yy = make([]float64, s.w*s.w)
	s.scratch = make([]float64, k*s.w)
	if s.blas {
		s.yb = make([]float64, k*s.chunk)
	}
	if s.blas && a.OtherBias != nil {
		s.res = make([]float64, s.chunk)
	}
	if a.NonNeg {
		s.nn = newNNLSScratch(k)
	}
	if a.Loss == lossAll {
		s.rhs = make([]float64, k)
	}
	return s
}

// solve sets x to the factor that minimises, for one row with ratings val
// at positions ind of the other side (factors y_i):
//
//	explicit: Σ (r_i − x·y_i)² + λ·n·‖x‖²
//	biased:   Σ (r_i − μ − b_i − x·y_i)² + λ·n·‖x‖²  (x's last entry the row's bias, y_i's a constant 1)
//	implicit: Σ_all c_i (p_i − x·y_i)² + λ·n₊·‖x‖²,  c_i = 1 + α|r_i|, p_i = [r_i > 0]
//
// (n the row's ratings, n₊ its positive ones: MLlib's ALS-WR scaling of λ)
// through the normal equations (Σ y_i y_iᵀ + λn·I) x = Σ r_i y_i, or, for
// implicit feedback, (YᵀY + Σ (c_i − 1) y_i y_iᵀ + λn₊·I) x = Σ c_i p_i y_i
// where YᵀY, over every factor of the other side, is precomputed once per
// half-iteration (Hu, Koren and Volinsky's trick), so the cost is
// proportional to the row's ratings, not to the size of the other side.
func (s *solver) solve(x []float64, ind []int32, val []float64) error {
	if s.blas {
		return s.solveBLAS(x, ind, val)
	}
	k, w, args, g := s.k, s.w, s.args, s.yy
	clear(s.b)
	count, sumSq := s.normal(ind, val)
	if args.Implicit {
		for i := range k {
			g[i*w+k] = s.b[i] // the right-hand side beside A, for Cholesky
		}
	}
	s.complete(g, w, count, sumSq)
	if args.NonNeg {
		clear(s.a)
		for i := range k {
			copy(s.a[i*k+i:(i+1)*k], g[i*w+i:i*w+k])
		}
		return s.nonNeg(x, s.a, len(ind))
	}
	if !tile.Cholesky(g, w, k, s.scratch) {
		return &singularError{Ratings: len(ind)}
	}
	tile.CholSolve(x, g, w, k)
	return nil
}

// nonNeg is the non-negative solve of the row's equations in a (Rank×Rank,
// upper triangle), naming its ratings if they are singular.
func (s *solver) nonNeg(x, a []float64, ratings int) error {
	err := s.nn.solve(x, a, s.b, s.k)
	if se, ok := err.(*singularError); ok {
		se.Ratings = ratings
	}
	return err
}

// complete finishes the row's normal matrix, whose upper triangle is the
// first Rank rows of a (stride apart): it adds YᵀY for implicit feedback
// and λ scaled by the row's ratings to the diagonal, after keeping what
// loss needs of the solve (the ratings λ is scaled by, Σ c·p² and the
// right-hand side). The tile and OpenBLAS solves share it.
func (s *solver) complete(a []float64, stride, count int, sumSq float64) {
	k := s.k
	if s.args.Implicit {
		for i := range k {
			ai, yi := a[i*stride+i:i*stride+k], s.args.YtY[i*k+i:(i+1)*k]
			for j := range ai {
				ai[j] += yi[j]
			}
		}
	}
	s.count, s.sumSq = count, sumSq
	if s.rhs != nil {
		copy(s.rhs, s.b)
	}
	reg := s.args.Lambda * float64(count)
	for i := range k {
		a[i*stride+i] += reg
	}
}

// solveBLAS is solve through OpenBLAS (the openblas build).
func (s *solver) solveBLAS(x []float64, ind []int32, val []float64) error {
	a, k, args := s.a, s.k, s.args
	clear(a)
	clear(s.b)
	var count int
	var sumSq float64
	for lo := 0; lo < len(ind); lo += s.chunk {
		hi := min(lo+s.chunk, len(ind))
		c, sq := s.chunkBLAS(ind[lo:hi], val[lo:hi])
		count, sumSq = count+c, sumSq+sq
	}
	s.complete(a, k, count, sumSq)
	if args.NonNeg {
		return s.nonNeg(x, a, len(ind))
	}
	if !openblas.CholSolve(a, s.b, k) {
		return &singularError{Ratings: len(ind)}
	}
	copy(x, s.b)
	return nil
}

// normal sets the upper triangle of s.yy's first Rank rows to Σ c·y·yᵀ
// over the row's ratings (explicit feedback: c = 1) and s.b to the
// right-hand side Σ r·y (implicit: Σ c·p·y; explicit, also s.yy's column
// Rank), a chunk of ratings at a time: the factors are
// gathered as rows of s.y, each followed by its rating (less the mean and
// biases), so that one tile.Gram of the chunk gives Σ y·yᵀ, Σ r·y (the
// column after the factors) and Σ r² (its diagonal entry) at once. It
// returns the ratings λ is scaled by and Σ c·p² (see solver.sumSq).
func (s *solver) normal(ind []int32, val []float64) (count int, sumSq float64) {
	args, k, w, g := s.args, s.k, s.w, s.yy
	other := args.Other
	clear(g)
	rows := k
	if !args.Implicit {
		rows = k + 1
		count = len(ind)
	}
	for lo := 0; lo < len(ind); lo += s.chunk {
		hi := min(lo+s.chunk, len(ind))
		y := s.y[:(hi-lo)*w]
		tile.GatherRows(y, w, other, k, ind[lo:hi])
		if !args.Implicit {
			for l := lo; l < hi; l++ {
				r := val[l]
				if args.OtherBias != nil {
					r = r - args.Mean - args.OtherBias[ind[l]]
				}
				y[(l-lo)*w+k] = r
			}
			tile.Gram(g, y, w, hi-lo, rows)
			continue
		}
		// Implicit feedback: rows √(c−1)·y for the Gramian, and
		// Σ c·p·y over the positive ratings.
		for l := lo; l < hi; l++ {
			r := val[l]
			c1 := args.Alpha * math.Abs(r)
			if r > 0 {
				count++
				sumSq += 1 + c1
				tile.Axpy(s.b, other[int(ind[l])*k:int(ind[l])*k+k], 1+c1)
			}
			tile.Scale(y[(l-lo)*w:(l-lo)*w+k], math.Sqrt(c1))
		}
		tile.Gram(g, y, w, hi-lo, rows)
	}
	if !args.Implicit {
		for i := range k {
			s.b[i] = g[i*w+k]
		}
		sumSq = g[k*w+k]
	}
	return count, sumSq
}

// chunkBLAS is one chunk of a row's ratings added to its normal equations
// through OpenBLAS: the other side's factors gathered as rows (weighted by
// √(c−1) for implicit feedback), their Gramian by DSYRK, the explicit
// right-hand side by DGEMV. It returns the ratings λ is scaled by and the
// chunk's part of Σ c·p² (see solver.sumSq).
func (s *solver) chunkBLAS(ind []int32, val []float64) (count int, sumSq float64) {
	args, k, n := s.args, s.k, len(ind)
	other, y := args.Other, s.yb[:n*k]
	if args.Implicit {
		for l, j := range ind {
			f := other[int(j)*k : int(j)*k+k]
			r := val[l]
			c1 := args.Alpha * math.Abs(r)
			if r > 0 {
				count++
				sumSq += 1 + c1
				for c, v := range f {
					s.b[c] += (1 + c1) * v
				}
			}
			w := math.Sqrt(c1)
			for c, v := range f {
				y[l*k+c] = w * v
			}
		}
		openblas.SyrkUpper(s.a, y, k, n)
		return count, sumSq
	}
	for l, j := range ind {
		copy(y[l*k:(l+1)*k], other[int(j)*k:int(j)*k+k])
	}
	openblas.SyrkUpper(s.a, y, k, n)
	r := val
	if args.OtherBias != nil {
		r = s.res[:n]
		for l, j := range ind {
			r[l] = val[l] - args.Mean - args.OtherBias[j]
		}
	}
	openblas.Gemv(true, n, k, 1, y, k, r, 1, s.b)
	if s.rhs != nil {
		sumSq = tile.Dot(r, r)
	}
	return n, sumSq
}

// nnlsScratch solves non-negative least squares on normal equations.
type nnlsScratch struct {
	full, z, w, zs []float64
	// sub is the free variables' equations [A b], rows (k+1 rounded up to
	// 8) apart, for tile.Cholesky, with chol its scratch.
	sub, chol []float64
	passive   []bool
	idx       []int
}

func newNNLSScratch(k int) *nnlsScratch {
	w := (k + 1 + 7) &^ 7
	return &nnlsScratch{full: make([]float64, k*k), z: make([]float64, k), w: make([]float64, k), zs: make([]float64, k),
		sub: make([]float64, w*w), chol: make([]float64, k*w), passive: make([]bool, k), idx: make([]int, 0, k)}
}

// solve sets x to the minimiser of ½xᵀAx − bᵀx subject to x ≥ 0, A
// symmetric positive definite with its upper triangle in a: the
// Lawson–Hanson active-set method run on the normal equations (Bro and de
// Jong's fast NNLS). Each step frees the constrained variable with the
// largest gradient and solves the unconstrained problem on the free ones
// by Cholesky, stepping back to the boundary whenever a free variable
// would turn negative.
func (s *nnlsScratch) solve(x, a, b []float64, k int) error {
	full := s.full
	for i := range k {
		for j := i; j < k; j++ {
			full[i*k+j], full[j*k+i] = a[i*k+j], a[i*k+j]
		}
	}
	clear(x)
	clear(s.passive)
	scale := 0.0
	for _, v := range b {
		scale = max(scale, math.Abs(v))
	}
	tol := 1e-12 * (1 + scale)
	copy(s.w, b) // the negative gradient b − Ax at x = 0
	for range 3 * k {
		j, best := -1, tol
		for i, wi := range s.w {
			if !s.passive[i] && wi > best {
				j, best = i, wi
			}
		}
		if j < 0 {
			return nil
		}
		s.passive[j] = true
		for range k + 1 {
			if err := s.solvePassive(b, k); err != nil {
				return err
			}
			alpha, blocked := 1.0, false
			for _, i := range s.idx {
				if s.z[i] <= 0 {
					blocked = true
					if d := x[i] - s.z[i]; d > 0 {
						alpha = min(alpha, x[i]/d)
					}
				}
			}
			if !blocked {
				for _, i := range s.idx {
					x[i] = s.z[i]
				}
				break
			}
			for _, i := range s.idx {
				x[i] += alpha * (s.z[i] - x[i])
				if x[i] <= tol {
					x[i], s.passive[i] = 0, false
				}
			}
		}
		for i := range k {
			g := b[i]
			for c := range k {
				g -= full[i*k+c] * x[c]
			}
			s.w[i] = g
		}
	}
	return nil
}

// solvePassive sets z on the passive (free) variables to the solution of
// the equations restricted to them, and lists them in idx.
func (s *nnlsScratch) solvePassive(b []float64, k int) error {
	s.idx = s.idx[:0]
	for i, p := range s.passive {
		if p {
			s.idx = append(s.idx, i)
		}
	}
	m := len(s.idx)
	w := (m + 1 + 7) &^ 7
	sub, zs := s.sub[:w*w], s.zs[:m]
	clear(sub)
	for r, i := range s.idx {
		for c, j := range s.idx[r:] {
			sub[r*w+r+c] = s.full[i*k+j]
		}
		sub[r*w+m] = b[i]
	}
	if !tile.Cholesky(sub, w, m, s.chol) {
		return &singularError{}
	}
	tile.CholSolve(zs, sub, w, m)
	clear(s.z)
	for r, i := range s.idx {
		s.z[i] = zs[r]
	}
	return nil
}

// gram returns Σ y·yᵀ over the rows y of f (Rank k), upper triangle set:
// tile.Gram over the rows a chunk at a time (DSYRK in the openblas build).
func gram(f []float64, k int) []float64 {
	g := make([]float64, k*k)
	n := len(f) / k
	if openblas.Enabled {
		openblas.SyrkUpper(g, f, k, n)
		return g
	}
	w, chunk := (k+7)&^7, chunkFor(k)
	y, gw := make([]float64, chunk*w), make([]float64, w*w)
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		for r := lo; r < hi; r++ {
			copy(y[(r-lo)*w:(r-lo)*w+k], f[r*k:(r+1)*k])
		}
		tile.Gram(gw, y, w, hi-lo, k)
	}
	for i := range k {
		copy(g[i*k+i:(i+1)*k], gw[i*w+i:i*w+k])
	}
	return g
}

// loss returns the row's term of the objective at its solved factor x
// (the last solve's row): its regularisation λ·n·‖x‖² (with biases x
// holds the row's bias as well, regularised alike) and, for lossAll, its
// data term as well:
//
//	explicit: Σ (r_i − x·y_i)²
//	biased:   Σ (r_i − μ − b_i − x·y_i)²  (y_i's last entry 1: x·y_i includes the row's bias)
//	implicit: Σ_all c_i (p_i − x·y_i)²
//
// Both together are Σ c_i p_i² − 2xᵀb + xᵀA x for the normal equations
// A x = b that x solves (c_i = 1 and p_i = r_i for explicit feedback; A
// holds the regularisation), so at the solution, where xᵀA x = xᵀb, they
// are Σ c_i p_i² − xᵀb: a sum the solve accumulated and a dot product of
// Rank values, with no pass over the other side's factors. For NNLS the
// same holds: at its solution each x_j is 0 or has (A x − b)_j = 0.
func (s *solver) loss(x []float64) float64 {
	if s.args.Loss != lossAll {
		return s.args.Lambda * float64(s.count) * tile.Dot(x, x)
	}
	return s.sumSq - tile.Dot(x, s.rhs)
}
