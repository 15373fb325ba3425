package ml

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/internal/openblas"
	"github.com/flintml/flint/ml/internal/tile"
)

// The loss passes of the generalised linear models. Each is a cluster task:
// the broadcast is the model in the original feature space (lossArg), the
// partial is the weighted loss sum, the weight sum and the gradient sums
// (lossPartial). Scaling, centring and regularisation live on the driver
// (glm.go), so the kernels below only see plain coefficients.

// lossArg is the broadcast of one loss pass.
type lossArg struct {
	K, D      int       // margin columns (1, or the classes of softmax) and features
	Coef      []float64 // K×D, row-major
	Intercept []float64 // K
	// Fraction in (0, 1) samples the rows whose hash of (Seed, Iter,
	// partition, row) is below it; 0 or 1 takes every row.
	Fraction float64
	Seed     uint64
	Iter     uint64
	// Smooth, for the hinge loss, is the width μ of the quadratic piece
	// that replaces its kink (see hingeResiduals); 0 is the exact hinge.
	Smooth float64
}

// lossPartial is what a loss pass returns from a partition.
type lossPartial struct {
	Loss   float64   // Σ wᵢ·ℓᵢ
	Weight float64   // Σ wᵢ
	Grad   []float64 // K×D: Σ wᵢ·rᵢₖ·xᵢ, rᵢₖ = ∂ℓᵢ/∂marginₖ
	Bias   []float64 // K: Σ wᵢ·rᵢₖ
}

func newLossPartial(a *lossArg) *lossPartial {
	return &lossPartial{Grad: make([]float64, a.K*a.D), Bias: make([]float64, a.K)}
}

func combineLoss(dst, src *lossPartial) {
	dst.Loss += src.Loss
	dst.Weight += src.Weight
	floats.Add(dst.Grad, src.Grad)
	floats.Add(dst.Bias, src.Bias)
}

// lossKind is one of the losses.
type lossKind int

const (
	squaredLoss  lossKind = iota // ½(m−y)², y real
	logisticLoss                 // log(1+eᵐ) − y·m, y ∈ {0, 1}
	softmaxLoss                  // log Σₖ e^{mₖ} − m_y, y ∈ {0, …, K−1}
	hingeLoss                    // max(0, 1 − (2y−1)·m), y ∈ {0, 1}
)

func (k lossKind) String() string {
	return [...]string{"squared", "logistic", "softmax", "hinge"}[k]
}

func lossTask(kind lossKind) *cluster.Task[lossArg, lossPartial] {
	return &cluster.Task[lossArg, lossPartial]{
		Name: "ml." + kind.String() + ".gradient",
		New:  newLossPartial,
		Map: func(ctx context.Context, p cluster.Part, a *lossArg, acc *lossPartial) error {
			return lossMap(ctx, kind, p, a, acc)
		},
		Combine: combineLoss,
	}
}

var (
	squaredTask  = cluster.Register(lossTask(squaredLoss))
	logisticTask = cluster.Register(lossTask(logisticLoss))
	softmaxTask  = cluster.Register(lossTask(softmaxLoss))
	hingeTask    = cluster.Register(lossTask(hingeLoss))
)

func taskFor(kind lossKind) *cluster.Task[lossArg, lossPartial] {
	return [...]*cluster.Task[lossArg, lossPartial]{squaredTask, logisticTask, softmaxTask, hingeTask}[kind]
}

func lossMap(ctx context.Context, kind lossKind, p cluster.Part, a *lossArg, acc *lossPartial) error {
	b := p.Block
	if b.Cols != a.D {
		return fmt.Errorf("ml: %s loss: partition %d has %d features, the model %d", kind, p.Index, b.Cols, a.D)
	}
	if b.Rows == 0 {
		return nil
	}
	k := &kernel{kind: kind, a: a, acc: acc, part: p.Index, b: b, prod: 1}
	var err error
	switch {
	case a.Fraction > 0 && a.Fraction < 1:
		err = k.sampled(ctx)
	case b.Sparse():
		err = k.sparse(ctx, 0, b.Rows)
	default:
		err = k.dense(ctx)
	}
	acc.Loss += math.Log(k.prod)
	return err
}

// kernel is the state of one loss pass over one partition.
type kernel struct {
	kind lossKind
	a    *lossArg
	acc  *lossPartial
	part int
	b    *cluster.Block
	// prod is the pending product of the unit-weight rows' logarithm
	// arguments (see residuals); its logarithm joins the loss when it
	// grows large and at the end of the partition.
	prod float64
}

// blockRows is the number of rows a dense block pass handles at once. For
// one margin column the rows are few (their dot products, then their
// residuals, then their scaled additions: the exponentials of a block
// overlap instead of stalling each row); for softmax, whose block both
// products read, as many as fit in about 256 KB (L2), rounded up to the
// six rows of tile's widest tiles.
func blockRows(kind lossKind, d int) int {
	if kind != softmaxLoss {
		return 8
	}
	n := max(4, min(512, (256<<10)/(8*max(d, 1))))
	return (n + 5) / 6 * 6
}

// dense runs the blocked pass over a dense partition. A float32 partition
// (cluster.Block.X32) is read a block of rows at a time and widened,
// exactly, into a float64 scratch that stays in cache (kernel.rows); every
// product and sum after that is the float64 pass's, so the pass gives the
// bits of a float64 partition of the rounded values while reading half the
// bytes from memory.
func (k *kernel) dense(ctx context.Context) error {
	if openblas.Enabled {
		return k.denseBLAS(ctx)
	}
	if k.a.K == 1 {
		return k.dense1(ctx)
	}
	return k.denseK(ctx)
}

// dense1 is the pass for one margin column, a block of rows at a time:
// their dot products with the coefficients, then their residuals (whose
// exponentials overlap instead of stalling row by row), then their scaled
// additions into the gradient. Where the CPU has AVX2 and FMA, the
// additions of one block run inside the dot products of the next (row i of
// the block paired with row i of the one before), in the time the dot
// products spend waiting for memory.
func (k *kernel) dense1(ctx context.Context) error {
	a, b := k.a, k.b
	d := a.D
	br := blockRows(k.kind, d)
	cur := make([]float64, br)  // margins, then residuals, of this block
	prev := make([]float64, br) // residuals of the block before (fused only)
	var xcur, xprev []float64   // the two blocks' rows (float32 blocks: widened into scratch)
	if b.Float32() {
		xcur, xprev = make([]float64, br*d), make([]float64, br*d)
	}
	g := k.acc.Grad
	prevN := 0
	for lo := 0; lo < b.Rows; lo += br {
		if lo%(64*br) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		n := min(br, b.Rows-lo)
		x := k.rows(xcur, lo, lo+n)
		if hasAVX2 {
			for i := 0; i < n; i++ {
				if i < prevN {
					// Every row, the coefficients and g have a.D values.
					cur[i] = dotAxpyAVX2(x[i*d:(i+1)*d], a.Coef, xprev[i*d:(i+1)*d], g, prev[i])
				} else {
					cur[i] = floats.Dot(x[i*d:(i+1)*d], a.Coef)
				}
			}
			for i := n; i < prevN; i++ {
				axpy(prev[i], xprev[i*d:(i+1)*d], g)
			}
		} else {
			for i := 0; i < n; i++ {
				cur[i] = floats.Dot(x[i*d:(i+1)*d], a.Coef)
			}
		}
		if err := k.residuals(cur[:n], lo, n); err != nil {
			return err
		}
		if hasAVX2 {
			cur, prev = prev, cur
			prevN = n
			if b.Float32() {
				xcur, xprev = xprev, xcur
			} else {
				xprev = x
			}
			continue
		}
		for i := 0; i < n; i++ {
			if r := cur[i]; r != 0 {
				axpy(r, x[i*d:(i+1)*d], g)
			}
		}
	}
	for i := 0; i < prevN; i++ {
		axpy(prev[i], xprev[i*d:(i+1)*d], g)
	}
	return nil
}

// rows returns the values of rows [lo, hi) of a dense block, row-major: the
// block's own memory for a float64 block; for a float32 block, the values
// widened (exactly, tile.Widen) into buf, which holds at least that many.
// A float32 block thus gives the bits of a float64 block of the same
// (rounded) values: only the memory read differs.
func (k *kernel) rows(buf []float64, lo, hi int) []float64 {
	d := k.b.Cols
	if !k.b.Float32() {
		return k.b.X[lo*d : hi*d : hi*d]
	}
	buf = buf[:(hi-lo)*d]
	tile.Widen(buf, k.b.X32[lo*d:hi*d])
	return buf
}

// axpy adds alpha·x to y with the BLAS's in-place kernel (gonum's SIMD one
// unless blas64.Use installed another; floats.AddScaled reads y as a
// separate source, which costs a stream).
func axpy(alpha float64, x, y []float64) {
	blas64.Implementation().Daxpy(len(x), alpha, x, 1, y, 1)
}

// denseK is the softmax pass as two matrix products per block of rows:
// the margins M = X·Wᵀ (tile.Products: register tiles, AVX-512 or AVX2
// where the CPU has them), the residuals row by row, then the gradient
// G += Rᵀ·X (tile.RankUpdate) while the block is still in cache. The rank
// update takes four, then two classes at a time, so with an odd K the
// residuals are copied into rows padded with a zero and the gradient goes to
// a padded scratch matrix, added to the partial at the end. Every product
// is summed in an order fixed by tile, whatever the CPU: the pass gives the
// same bits with every kernel.
//
// A float32 block (cluster.Block.X32) is read in place, never widened into
// a copy, and multiplied in float32 lanes (sixteen to a register): its
// margins are tile.Products32 of the rows and the coefficients rounded to
// float32 once per pass, and its gradient tile.RankUpdateF32 of the
// residuals rounded to float32, into a float32 scratch of K×D that is
// added into the float64 gradient (tile.AddWidened) every f32Rows rows, so
// no float32 sum runs over more rows than that.
func (k *kernel) denseK(ctx context.Context) error {
	a, b := k.a, k.b
	d, K := a.D, a.K
	br := blockRows(k.kind, d)
	m := make([]float64, br*K) // margins, then residuals, row-major br×K
	K2, r, g := K, m, k.acc.Grad
	if K%2 != 0 {
		K2 = K + 1
		r, g = make([]float64, br*K2), make([]float64, K2*d)
	}
	var f *f32Scratch
	if b.Float32() {
		f = newF32Scratch(a.Coef, br, K2, d)
	}
	for lo := 0; lo < b.Rows; lo += br {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+br, b.Rows)
		n := hi - lo
		mb := m[:n*K]
		if f != nil {
			tile.Products32(mb, b.X32[lo*d:hi*d], n, f.coef, K, d)
		} else {
			tile.Products(mb, b.X[lo*d:hi*d], n, a.Coef, K, d)
		}
		if err := k.residuals(mb, lo, n); err != nil {
			return err
		}
		if K2 != K {
			for i := range n {
				copy(r[i*K2:i*K2+K], mb[i*K:(i+1)*K])
			}
		}
		if f != nil {
			f.rankUpdate(g, r[:n*K2], K2, b.X32[lo*d:hi*d], n, d)
		} else {
			tile.RankUpdate(g, r[:n*K2], K2, b.X[lo*d:hi*d], n, d)
		}
	}
	if K2 != K {
		floats.Add(k.acc.Grad, g[:K*d])
	}
	return nil
}

// f32Rows is the most rows a float32 gradient sum of denseK runs over
// before it is added into the float64 gradient: each of its steps rounds
// to float32 (2⁻²⁴ relative), so the error of a sum of n rows grows as n.
const f32Rows = 48

// f32Scratch is denseK's float32 state for a float32 block: the
// coefficients rounded to float32 (K×D), the residuals of up to f32Rows
// rows rounded (row-major, K2 a row), and the gradient sum of those rows
// (K2×D).
type f32Scratch struct {
	coef, r, g []float32
}

func newF32Scratch(coef []float64, br, k2, d int) *f32Scratch {
	f := &f32Scratch{coef: make([]float32, len(coef)), r: make([]float32, min(br, f32Rows)*k2), g: make([]float32, k2*d)}
	for i, v := range coef {
		f.coef[i] = float32(v)
	}
	return f
}

// rankUpdate adds Rᵀ·X to the float64 g (k×d) for the n residual rows r
// (n×k) and float32 rows x, f32Rows rows at a time in float32 lanes
// (tile.RankUpdateF32), each group's sum widened into g.
func (f *f32Scratch) rankUpdate(g, r []float64, k int, x []float32, n, d int) {
	for lo := 0; lo < n; lo += f32Rows {
		nn := min(f32Rows, n-lo)
		rr := f.r[:nn*k]
		for i, v := range r[lo*k : (lo+nn)*k] {
			rr[i] = float32(v)
		}
		clear(f.g)
		tile.RankUpdateF32(f.g, rr, k, x[lo*d:(lo+nn)*d], nn, d)
		tile.AddWidened(g, f.g)
	}
}

// denseBLAS is the dense pass through OpenBLAS (the openblas build): per
// block of rows the margins M = X·Wᵀ and, after the residuals, the gradient
// G += Rᵀ·X, each one DGEMM (DGEMV for one margin column), with the block
// still in cache for the second. The blocks are softmax's (about 256 KB)
// whatever the loss: one margin column gains nothing from tiny blocks here.
func (k *kernel) denseBLAS(ctx context.Context) error {
	a, b := k.a, k.b
	d, K := a.D, a.K
	br := blockRows(softmaxLoss, d)
	m := make([]float64, br*K) // margins, then residuals, row-major br×K
	var xbuf []float64         // a float32 block's rows, widened
	if b.Float32() {
		xbuf = make([]float64, br*d)
	}
	for lo := 0; lo < b.Rows; lo += br {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+br, b.Rows)
		n := hi - lo
		xb := k.rows(xbuf, lo, hi)
		mb := m[:n*K]
		if K == 1 {
			openblas.Gemv(false, n, d, 1, xb, d, a.Coef, 0, mb)
		} else {
			openblas.Gemm(false, true, n, K, d, 1, xb, d, a.Coef, d, 0, mb, K)
		}
		if err := k.residuals(mb, lo, n); err != nil {
			return err
		}
		if K == 1 {
			openblas.Gemv(true, n, d, 1, xb, d, mb, 1, k.acc.Grad)
		} else {
			openblas.Gemm(true, false, K, d, n, 1, mb, K, xb, d, 1, k.acc.Grad, d)
		}
	}
	return nil
}

// residuals turns the margins (without intercepts) of rows [lo, lo+n) into
// weighted residuals wᵢ·∂ℓᵢ/∂m in place, adding the loss and weight to the
// partial.
//
// The logistic and softmax losses end in a logarithm per row, log(1+e^{−|m|})
// or log Σₖ e^{mₖ−max}. For rows of unit weight the pass multiplies the
// arguments into k.prod instead and takes the logarithm of the product only
// when it grows large and at the end of the partition: the sum of the
// logarithms to within a few ulps, at a fraction of the cost.
func (k *kernel) residuals(m []float64, lo, n int) error {
	switch k.kind {
	case logisticLoss:
		return k.logisticResiduals(m, lo, n)
	case hingeLoss:
		return k.hingeResiduals(m, lo, n)
	}
	a, b, acc := k.a, k.b, k.acc
	K := a.K
	// Sums in locals: the partial is behind a pointer, and updating it row
	// by row would chain every row through memory.
	var loss, wsum, bias0 float64
	prod := k.prod
	for i := 0; i < n; i++ {
		row := lo + i
		w := 1.0
		if b.W != nil {
			w = b.W[row]
			if w == 0 {
				clear(m[i*K : (i+1)*K])
				continue
			}
		}
		y := b.Y[row]
		mi := m[i*K : (i+1)*K]
		var l, arg float64 // the row's loss is l + log(arg)
		switch k.kind {
		case squaredLoss:
			r := mi[0] + a.Intercept[0] - y
			l, arg = 0.5*r*r, 1
			mi[0] = w * r
		case softmaxLoss:
			c := int(y)
			if float64(c) != y || c < 0 || c >= K {
				return fmt.Errorf("ml: softmax loss: label %v at row %d of partition %d is not a class index in [0, %d)", y, row, k.part, K)
			}
			l, arg = softmax(mi, a.Intercept, c, w)
		}
		if w == 1 {
			prod *= arg
			if prod > 1e280 {
				loss += math.Log(prod)
				prod = 1
			}
		} else {
			l += math.Log(arg)
		}
		loss += w * l
		wsum += w
		if K == 1 {
			bias0 += mi[0]
		} else {
			for c := 0; c < K; c++ {
				acc.Bias[c] += mi[c]
			}
		}
	}
	k.prod = prod
	acc.Loss += loss
	acc.Weight += wsum
	acc.Bias[0] += bias0
	return nil
}

// logisticResiduals is residuals for the logistic loss, the hot loop of
// binary classification. Rows of unit weight go four at a time through
// logisticResAVX2 where the CPU has AVX2; the Go loop that takes the rest
// (and every row elsewhere) makes no calls (Go's register ABI would spill
// its state around each), inlines the exponential and selects by the sign
// bit instead of branching. Both leave the logarithm to the product in
// k.prod.
//
// log(1+eᵐ) − y·m = max(m, 0) − y·m + log(1+e^{−|m|}), and σ(m) comes
// from the same exponential, so no m overflows.
func (k *kernel) logisticResiduals(m []float64, lo, n int) error {
	b, acc := k.b, k.acc
	c := k.a.Intercept[0]
	y := b.Y[lo : lo+n]
	m = m[:n]
	var loss, wsum, bias float64
	if b.W != nil {
		w := b.W[lo : lo+n]
		for i, yi := range y {
			if yi != 0 && yi != 1 {
				return k.notBinary(lo + i)
			}
			mm := m[i] + c
			e := expNeg(-math.Abs(mm))
			num := e // σ(m) is 1/(1+e) for m ≥ 0 and e/(1+e) below
			if mm >= 0 {
				num = 1
			}
			r := w[i] * (num/(1+e) - yi)
			m[i] = r
			loss += w[i] * (max(mm, 0) - yi*mm + math.Log1p(e))
			wsum += w[i]
			bias += r
		}
	} else {
		// The product of a chunk's factors in (1, 2] grows by at most
		// 2⁵¹² ≈ 10¹⁵⁴: from at most 10¹⁰⁰ it stays finite.
		const chunk = 512
		prod := k.prod
		for c0 := 0; c0 < n; c0 += chunk {
			if prod > 1e100 {
				loss += math.Log(prod)
				prod = 1
			}
			hi, i0 := min(c0+chunk, n), c0
			if hasAVX2 && hi-c0 >= 4 {
				// The same arithmetic four rows at a time; the scalar
				// loop below takes the rest.
				l, r, p, ok := logisticResAVX2(m[c0:hi], y[c0:hi], c)
				if !ok {
					for i := c0; i < hi; i++ {
						if y[i] != 0 && y[i] != 1 {
							return k.notBinary(lo + i)
						}
					}
				}
				loss, bias, prod = loss+l, bias+r, prod*p
				i0 = c0 + (hi-c0)&^3
			}
			for i := i0; i < hi; i++ {
				yi := y[i]
				if yi != 0 && yi != 1 {
					return k.notBinary(lo + i)
				}
				mm := m[i] + c
				// e = expNeg(−|m|), inlined by hand: keep the two the same.
				x := -math.Abs(mm)
				if x < -708 {
					x = -708
				}
				kk := int(x*1.44269504088896338700 - 0.5)
				fk := float64(kk)
				e := expPoly((x-fk*6.93147180369123816490e-01)-fk*1.90821492927058770002e-10) *
					math.Float64frombits(uint64(kk+1023)<<52)
				arg := 1 + e
				// num (1 for m ≥ 0, e below) and max(m, 0) by the sign
				// bit: margins' random signs would mispredict a branch
				// half the time.
				neg := uint64(int64(math.Float64bits(mm)) >> 63)
				num := math.Float64frombits(math.Float64bits(e)&neg | math.Float64bits(1)&^neg)
				pos := math.Float64frombits(math.Float64bits(mm) &^ neg)
				r := num/arg - yi
				m[i] = r
				prod *= arg
				loss += pos - yi*mm
				bias += r
			}
		}
		k.prod = prod
		wsum = float64(n)
	}
	acc.Loss += loss
	acc.Weight += wsum
	acc.Bias[0] += bias
	return nil
}

// hingeResiduals is residuals for the hinge loss of a linear SVM. With
// s = 2y−1 ∈ {−1, 1} and z = 1 − s·m the row's loss is max(0, z) and its
// residual the subgradient −s where z > 0, 0 where the row is on or beyond
// the margin (z ≤ 0: at the kink, the subgradient MLlib's LinearSVC takes).
//
// With a smoothing width μ = Smooth > 0 the kink becomes a quadratic piece
// (the Huberised hinge): z²/(2μ) on 0 < z ≤ μ, z − μ/2 above, with the
// residual −s·min(z/μ, 1). Its gradient is continuous, and it is below the
// hinge by at most μ/2 per row, so the minimum of its objective is within
// μ/2 of the hinge's. No logarithm: k.prod is left alone.
func (k *kernel) hingeResiduals(m []float64, lo, n int) error {
	b, acc := k.b, k.acc
	c, mu := k.a.Intercept[0], k.a.Smooth
	y := b.Y[lo : lo+n]
	m = m[:n]
	var loss, wsum, bias float64
	for i, yi := range y {
		if yi != 0 && yi != 1 {
			return k.notBinary(lo + i)
		}
		w := 1.0
		if b.W != nil {
			w = b.W[lo+i]
		}
		s := 2*yi - 1
		z := 1 - s*(m[i]+c)
		r := 0.0
		switch {
		case z > mu: // the linear piece (every z > 0 when μ = 0)
			loss += w * (z - 0.5*mu)
			r = -w * s
		case !(z <= 0): // the quadratic piece; a NaN margin too, so that it reaches the loss
			loss += w * z * z / (2 * mu)
			r = -w * s * z / mu
		}
		m[i] = r
		wsum += w
		bias += r
	}
	acc.Loss += loss
	acc.Weight += wsum
	acc.Bias[0] += bias
	return nil
}

func (k *kernel) notBinary(row int) error {
	return fmt.Errorf("ml: %s loss: label %v at row %d of partition %d is not 0 or 1", k.kind, k.b.Y[row], row, k.part)
}

// softmax turns margins m (without intercepts b) into w·(p − onehot(y)) in
// place. The loss is l + log(s): l = max − m_y and s = Σₖ e^{mₖ−max}.
func softmax(m, b []float64, y int, w float64) (l, s float64) {
	mx := math.Inf(-1)
	for c := range m {
		m[c] += b[c]
		mx = max(mx, m[c])
	}
	my := m[y]
	for c := range m {
		e := math.Exp(m[c] - mx)
		m[c] = e
		s += e
	}
	inv := w / s
	for c := range m {
		m[c] *= inv
	}
	m[y] -= w
	return mx - my, s
}

// sparse is the CSR pass over rows [lo, hi): margins by gathers, gradients
// by scatters.
func (k *kernel) sparse(ctx context.Context, lo, hi int) error {
	K := k.a.K
	m := make([]float64, K)
	for row := lo; row < hi; row++ {
		if (row-lo)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := k.sparseRow(m, row); err != nil {
			return err
		}
	}
	return nil
}

func (k *kernel) sparseRow(m []float64, row int) error {
	a := k.a
	d := a.D
	ind, val := k.b.SparseRow(row)
	for c := range m {
		w := a.Coef[c*d : (c+1)*d]
		var s float64
		for t, j := range ind {
			s += val[t] * w[j]
		}
		m[c] = s
	}
	if err := k.residuals(m, row, 1); err != nil {
		return err
	}
	for c, r := range m {
		if r == 0 {
			continue
		}
		g := k.acc.Grad[c*d : (c+1)*d]
		for t, j := range ind {
			g[j] += r * val[t]
		}
	}
	return nil
}

// sampled is the pass over the rows of a mini-batch, row by row: a dense
// row takes K dot products and K scaled additions (gonum's SIMD kernels),
// a sparse row the gathers and scatters of sparseRow.
func (k *kernel) sampled(ctx context.Context) error {
	a, b := k.a, k.b
	d, K := a.D, a.K
	m := make([]float64, K)
	var xbuf []float64 // a float32 row, widened
	if b.Float32() {
		xbuf = make([]float64, d)
	}
	for row := 0; row < b.Rows; row++ {
		if row%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if unitHash(a.Seed, a.Iter, uint64(k.part), uint64(row)) >= a.Fraction {
			continue
		}
		if b.Sparse() {
			if err := k.sparseRow(m, row); err != nil {
				return err
			}
			continue
		}
		x := k.rows(xbuf, row, row+1)
		for c := 0; c < K; c++ {
			m[c] = floats.Dot(x, a.Coef[c*d:(c+1)*d])
		}
		if err := k.residuals(m, row, 1); err != nil {
			return err
		}
		for c := 0; c < K; c++ {
			if m[c] != 0 {
				floats.AddScaled(k.acc.Grad[c*d:(c+1)*d], m[c], x)
			}
		}
	}
	return nil
}

// unitHash maps (seed, a, b, c) to a uniform number in [0, 1): SplitMix64's
// finaliser over a mix of the inputs.
func unitHash(seed, a, b, c uint64) float64 {
	z := seed ^ (a * 0x9e3779b97f4a7c15) ^ (b * 0xbf58476d1ce4e5b9) ^ (c * 0x94d049bb133111eb)
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
