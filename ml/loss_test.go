package ml

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
)

// gradCase is one objective whose analytic gradient is checked against
// central finite differences.
type gradCase struct {
	kind            lossKind
	k               int // classes for softmax
	sparse          bool
	weights         bool
	intercept       bool
	l2              float64
	standardization bool
	smooth          float64 // the hinge's smoothing width
}

func (c gradCase) String() string {
	layout := "dense"
	if c.sparse {
		layout = "sparse"
	}
	name := fmt.Sprintf("loss=%s/k=%d/%s/weights=%v/intercept=%v/l2=%g/std=%v", c.kind, c.k, layout, c.weights, c.intercept, c.l2, c.standardization)
	if c.kind == hingeLoss {
		name += fmt.Sprintf("/smooth=%g", c.smooth)
	}
	return name
}

func gradCases() []gradCase {
	var cs []gradCase
	for _, kind := range []lossKind{squaredLoss, logisticLoss, softmaxLoss, hingeLoss} {
		for _, sparse := range []bool{false, true} {
			for _, w := range []bool{false, true} {
				for _, icpt := range []bool{false, true} {
					for _, l2 := range []float64{0, 0.3} {
						k := 1
						if kind == softmaxLoss {
							k = 4
						}
						c := gradCase{kind: kind, k: k, sparse: sparse, weights: w, intercept: icpt, l2: l2, standardization: l2 > 0 && w}
						cs = append(cs, c)
						if kind == hingeLoss {
							c.smooth = 0.5
							cs = append(cs, c)
						}
					}
				}
			}
		}
	}
	return cs
}

// objectiveFor builds the scaled-space objective of a small random problem.
func objectiveFor(t *testing.T, c gradCase, seed uint64) (*glmObjective, synth) {
	t.Helper()
	const rows, cols = 60, 5
	r := rand.New(rand.NewPCG(seed, 9))
	var s synth
	switch c.kind {
	case squaredLoss:
		s, _, _ = linearData(seed, rows, cols, 0.5, c.weights)
	case logisticLoss, softmaxLoss, hingeLoss:
		kk := c.k
		icpt := make([]float64, kk)
		coef := make([]float64, kk*cols)
		for i := range coef {
			coef[i] = r.NormFloat64()
		}
		s = softmaxData(seed, rows, cols, coef, icpt, 0, c.weights)
	}
	if c.sparse {
		for i := range s.x { // make it really sparse
			if r.Float64() < 0.4 {
				s.x[i] = 0
			}
		}
	}
	e := newEngine(t, 3)
	ds := s.dense(t, e, 4)
	if c.sparse {
		ds = s.sparse(t, e, 4)
	}
	classes := 0
	if c.kind != squaredLoss {
		classes = max(c.k, 2)
	}
	sum, err := summarize(context.Background(), e, ds, summaryArg{Classes: classes, What: "test"})
	if err != nil {
		t.Fatal(err)
	}
	o := &glmObjective{x: e, ds: ds, kind: c.kind, k: c.k, d: cols, intercept: c.intercept,
		scale: make([]float64, cols), center: make([]float64, cols), l2: make([]float64, cols)}
	o.arg = lossArg{K: c.k, D: cols, Coef: make([]float64, c.k*cols), Intercept: make([]float64, c.k), Smooth: c.smooth}
	for j := 0; j < cols; j++ {
		o.scale[j] = sum.Std[j]
		if c.intercept {
			o.center[j] = sum.Mean[j]
		}
		o.l2[j] = c.l2
		if !c.standardization {
			o.l2[j] = c.l2 / (o.scale[j] * o.scale[j])
		}
	}
	return o, s
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for i, c := range gradCases() {
		t.Run(c.String(), func(t *testing.T) {
			o, _ := objectiveFor(t, c, uint64(i+1))
			r := rand.New(rand.NewPCG(uint64(i), 3))
			v := make([]float64, o.Dim())
			for j := range v {
				v[j] = 0.5 * r.NormFloat64()
			}
			ctx := context.Background()
			grad := make([]float64, len(v))
			if _, err := o.Eval(ctx, grad, v); err != nil {
				t.Fatal(err)
			}
			f := func(x []float64) float64 {
				g := make([]float64, len(x))
				val, err := o.Eval(ctx, g, x)
				if err != nil {
					t.Fatal(err)
				}
				return val
			}
			want := fd.Gradient(nil, f, v, &fd.Settings{Formula: fd.Central, Step: 1e-5})
			for j := range grad {
				if d := math.Abs(grad[j] - want[j]); d > 1e-6*math.Max(1, math.Abs(want[j])) {
					t.Errorf("∂f/∂x[%d] = %.10g, finite differences %.10g (diff %.3g)", j, grad[j], want[j], d)
				}
			}
		})
	}
}

// naiveObjective evaluates the objective in the original space, row by
// row, straight from its definition.
func naiveObjective(c gradCase, s synth, coef, icpt, l2orig []float64) float64 {
	var loss, wsum float64
	k := c.k
	m := make([]float64, k)
	for i := 0; i < s.rows; i++ {
		w := 1.0
		if s.w != nil {
			w = s.w[i]
		}
		for cc := 0; cc < k; cc++ {
			m[cc] = icpt[cc]
			for j := 0; j < s.cols; j++ {
				m[cc] += coef[cc*s.cols+j] * s.x[i*s.cols+j]
			}
		}
		y := s.y[i]
		var l float64
		switch c.kind {
		case squaredLoss:
			l = 0.5 * (m[0] - y) * (m[0] - y)
		case logisticLoss:
			l = math.Log(1+math.Exp(m[0])) - y*m[0]
		case softmaxLoss:
			var z float64
			for _, v := range m {
				z += math.Exp(v)
			}
			l = math.Log(z) - m[int(y)]
		case hingeLoss:
			z := 1 - (2*y-1)*m[0]
			switch {
			case z > c.smooth:
				l = z - c.smooth/2
			case z > 0:
				l = z * z / (2 * c.smooth)
			}
		}
		loss += w * l
		wsum += w
	}
	f := loss / wsum
	for cc := 0; cc < k; cc++ {
		for j := 0; j < s.cols; j++ {
			f += 0.5 * l2orig[j] * coef[cc*s.cols+j] * coef[cc*s.cols+j]
		}
	}
	return f
}

// TestObjectiveIsTheOriginalSpaceObjective checks that the virtual
// standardisation computes exactly the objective of the original features.
func TestObjectiveIsTheOriginalSpaceObjective(t *testing.T) {
	for i, c := range gradCases() {
		t.Run(c.String(), func(t *testing.T) {
			o, s := objectiveFor(t, c, uint64(i+1))
			r := rand.New(rand.NewPCG(uint64(i), 4))
			v := make([]float64, o.Dim())
			for j := range v {
				v[j] = 0.5 * r.NormFloat64()
			}
			got, err := o.Eval(context.Background(), make([]float64, len(v)), v)
			if err != nil {
				t.Fatal(err)
			}
			coef, icpt := make([]float64, c.k*s.cols), make([]float64, c.k)
			o.original(coef, icpt, v)
			l2orig := make([]float64, s.cols) // penalty on w = v/s: l2·s²
			for j := range l2orig {
				l2orig[j] = o.l2[j] * o.scale[j] * o.scale[j]
			}
			want := naiveObjective(c, s, coef, icpt, l2orig)
			if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Fatalf("objective %.15g, from the definition %.15g", got, want)
			}
		})
	}
}

// TestDotAxpy checks the fused kernel against gonum's for every length
// that exercises its 16-, 4- and 1-wide loops.
func TestDotAxpy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for n := 0; n <= 70; n++ {
		x, w, xp, g := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for i := 0; i < n; i++ {
			x[i], w[i], xp[i], g[i] = r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64()
		}
		want := append([]float64(nil), g...)
		floats.AddScaled(want, 0.75, xp)
		dot := dotAxpy(x, w, xp, g, 0.75)
		if d := math.Abs(dot - floats.Dot(x, w)); d > 1e-13*float64(n+1) {
			t.Errorf("n=%d: dot %v, gonum %v", n, dot, floats.Dot(x, w))
		}
		if d := maxAbsDiff(g, want); d > 1e-14 {
			t.Errorf("n=%d: axpy differs from gonum's by %g", n, d)
		}
	}
}

// TestFusedAndPlainPassesAgree: the pass with the fused kernel and the one
// with gonum's alone compute the same loss and gradient (to rounding), on
// blocks whose sizes leave partial row blocks.
func TestFusedAndPlainPassesAgree(t *testing.T) {
	if !hasAVX2 {
		t.Log("this CPU has no AVX2+FMA: the fused kernel is gonum's (still checked)")
	}
	defer func(v bool) { hasAVX2 = v }(hasAVX2)
	for _, kind := range []lossKind{squaredLoss, logisticLoss, hingeLoss} {
		for _, rows := range []int{1, 7, 8, 9, 17, 100} {
			s := softmaxData(uint64(rows), rows, 37, make([]float64, 37), []float64{0.3}, 0, rows%2 == 0)
			for i := range s.x {
				s.x[i] *= 0.3
			}
			b := &cluster.Block{Rows: rows, Cols: 37, X: s.x, Y: s.y, W: s.w}
			a := &lossArg{K: 1, D: 37, Coef: make([]float64, 37), Intercept: []float64{0.1}}
			for j := range a.Coef {
				a.Coef[j] = math.Sin(float64(j))
			}
			var got [2]*lossPartial
			for i, fused := range []bool{true, false} {
				hasAVX2 = fused
				got[i] = newLossPartial(a)
				if err := lossMap(context.Background(), kind, cluster.Part{Block: b}, a, got[i]); err != nil {
					t.Fatal(err)
				}
			}
			if d := math.Abs(got[0].Loss - got[1].Loss); d > 1e-12*math.Abs(got[1].Loss) || got[0].Weight != got[1].Weight {
				t.Errorf("%v, %d rows: loss %v fused, %v plain", kind, rows, got[0].Loss, got[1].Loss)
			}
			if d := maxAbsDiff(got[0].Grad, got[1].Grad); d > 1e-12*float64(rows) {
				t.Errorf("%v, %d rows: gradients differ by %g", kind, rows, d)
			}
		}
	}
}

// TestExpNeg: the kernel's exponential is math.Exp to a few ulps on the
// arguments it gets, and e⁻⁷⁰⁸ below them.
func TestExpNeg(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 2_000_000; i++ {
		x := -float64(i) * 0.000354 // [−708, 0]
		want := math.Exp(x)
		if want < 0x1p-1022 {
			continue
		}
		worst = math.Max(worst, math.Abs(expNeg(x)-want)/want)
	}
	if worst > 8*0x1p-53 {
		t.Errorf("worst relative error %g (%.1f ulps)", worst, worst/0x1p-53)
	}
	if expNeg(-800) != expNeg(-708) || expNeg(0) != 1 {
		t.Errorf("expNeg(-800) = %v, expNeg(0) = %v", expNeg(-800), expNeg(0))
	}
}

// TestLogisticResidualKernel checks the vectorised logistic residuals
// against the definition, margins from 0 to beyond e⁻⁷⁰⁸ included.
func TestLogisticResidualKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for n := 0; n <= 40; n++ {
		m, y := make([]float64, n), make([]float64, n)
		for i := range m {
			switch i % 7 {
			case 5:
				m[i] = 750 * (2*r.Float64() - 1)
			case 6:
				m[i] = 40 * (2*r.Float64() - 1)
			default:
				m[i] = 3 * r.NormFloat64()
			}
			y[i] = float64(r.IntN(2))
		}
		const c = 0.25
		orig := append([]float64(nil), m...)
		loss, bias, prod, ok := logisticResAVX2(m, y, c)
		if !ok {
			t.Fatalf("n=%d: labels 0 and 1 reported bad", n)
		}
		var wantLoss, wantBias float64
		for i := 0; i < n&^3; i++ {
			mm := orig[i] + c
			sig := 1 / (1 + math.Exp(-mm))
			wantLoss += math.Max(mm, 0) - y[i]*mm + math.Log1p(math.Exp(-math.Abs(mm)))
			wantBias += sig - y[i]
			if d := math.Abs(m[i] - (sig - y[i])); d > 1e-15 {
				t.Errorf("n=%d row %d (m=%g): residual %v, want %v", n, i, mm, m[i], sig-y[i])
			}
		}
		for i := n &^ 3; i < n; i++ {
			if m[i] != orig[i] {
				t.Errorf("n=%d: row %d past the multiple of 4 was written", n, i)
			}
		}
		if got := loss + math.Log(prod); math.Abs(got-wantLoss) > 1e-13*math.Max(1, math.Abs(wantLoss)) {
			t.Errorf("n=%d: loss %v, want %v", n, got, wantLoss)
		}
		if math.Abs(bias-wantBias) > 1e-13*float64(n+1) {
			t.Errorf("n=%d: residual sum %v, want %v", n, bias, wantBias)
		}
		if n >= 4 {
			y[1] = 0.5
			if _, _, _, ok := logisticResAVX2(append([]float64(nil), orig...), y, c); ok {
				t.Errorf("n=%d: label 0.5 not reported", n)
			}
		}
	}
}

// TestHingeResiduals checks the hinge kernel row by row against its
// definition: the loss max(0, z), z = 1 − s·m with s = 2y−1, the residual
// −w·s inside the margin and 0 on or beyond it (the kink z = 0 included);
// smoothed with width μ, z²/(2μ) and −w·s·z/μ on 0 < z ≤ μ, z − μ/2 above.
func TestHingeResiduals(t *testing.T) {
	for _, c := range []struct {
		name        string
		m, y, w, mu float64 // margin (the intercept 0.25 added), label, weight, smoothing
		loss, resi  float64 // the row's unweighted loss, its weighted residual
	}{
		{"positive beyond the margin", 2, 1, 1, 0, 0, 0},
		{"positive on the kink", 1, 1, 1, 0, 0, 0},
		{"positive inside the margin", 0.5, 1, 1, 0, 0.5, -1},
		{"positive misclassified", -2, 1, 1, 0, 3, -1},
		{"negative beyond the margin", -3, 0, 1, 0, 0, 0},
		{"negative on the kink", -1, 0, 1, 0, 0, 0},
		{"negative inside the margin", -0.5, 0, 1, 0, 0.5, 1},
		{"negative misclassified, weighted", 1.5, 0, 2, 0, 2.5, 2},
		{"zero weight", 0, 1, 0, 0, 1, 0},
		{"smoothed, beyond the margin", 1.25, 1, 1, 0.5, 0, 0},
		{"smoothed, in the quadratic piece", 0.75, 1, 1, 0.5, 0.0625, -0.5},
		{"smoothed, where the pieces meet", -0.5, 0, 2, 0.5, 0.25, 2},
		{"smoothed, on the linear piece", -0.5, 1, 1, 0.5, 1.25, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			const icpt = 0.25
			b := &cluster.Block{Rows: 1, Cols: 1, X: []float64{0}, Y: []float64{c.y}, W: []float64{c.w}}
			a := &lossArg{K: 1, D: 1, Coef: []float64{0}, Intercept: []float64{icpt}, Smooth: c.mu}
			acc := newLossPartial(a)
			k := &kernel{kind: hingeLoss, a: a, acc: acc, b: b, prod: 1}
			m := []float64{c.m - icpt}
			if err := k.residuals(m, 0, 1); err != nil {
				t.Fatal(err)
			}
			if acc.Loss != c.w*c.loss || m[0] != c.resi || acc.Bias[0] != c.resi || acc.Weight != c.w {
				t.Errorf("loss %v, residual %v, bias %v, weight %v; want %v, %v, %v, %v",
					acc.Loss, m[0], acc.Bias[0], acc.Weight, c.w*c.loss, c.resi, c.resi, c.w)
			}
		})
	}
}

// TestHingeLabelErrors: a label other than 0 or 1 is an error naming it,
// its row and its partition, on every path of the pass; a NaN margin
// reaches the loss instead of passing for a row beyond the margin.
func TestHingeLabelErrors(t *testing.T) {
	s := softmaxData(4, 30, 3, []float64{1, -1, 0.5}, []float64{0}, 0.3, false)
	s.y[21] = -1
	for _, c := range []struct {
		name string
		arg  lossArg
		ds   func(e *cluster.Engine) *cluster.Dataset
	}{
		{"dense", lossArg{}, func(e *cluster.Engine) *cluster.Dataset { return s.dense(t, e, 2) }},
		{"sparse", lossArg{}, func(e *cluster.Engine) *cluster.Dataset { return s.sparse(t, e, 2) }},
		{"sampled", lossArg{Fraction: 0.999999, Seed: 1}, func(e *cluster.Engine) *cluster.Dataset { return s.dense(t, e, 2) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, 2)
			a := c.arg
			a.K, a.D, a.Coef, a.Intercept = 1, 3, []float64{0.1, 0.2, 0.3}, []float64{0}
			_, err := cluster.Aggregate(context.Background(), e, c.ds(e), taskFor(hingeLoss), &a)
			want := "ml: hinge loss: label -1 at row 6 of partition 1 is not 0 or 1"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want an error containing %q", err, want)
			}
		})
	}
	b := &cluster.Block{Rows: 1, Cols: 1, X: []float64{math.NaN()}, Y: []float64{1}}
	a := &lossArg{K: 1, D: 1, Coef: []float64{1}, Intercept: []float64{0}}
	acc := newLossPartial(a)
	if err := lossMap(context.Background(), hingeLoss, cluster.Part{Block: b}, a, acc); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(acc.Loss) {
		t.Errorf("a NaN margin gave loss %v, want NaN", acc.Loss)
	}
}
