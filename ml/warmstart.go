package ml

import (
	"fmt"
	"math"
)

// WarmStart is where a linear model's fit starts instead of zero: the
// coefficients (rows×features, row-major) and intercepts (one per row) of
// an earlier fit, as its model holds them — the previous version of a
// model retrained on newer rows. The optimiser minimises the same
// objective from there, so the minimiser is the cold fit's (to the
// tolerance); only the iterations it takes differ. The fit fails, naming
// both shapes, when the start's do not match the rows and classes.
type WarmStart struct {
	Coef      []float64
	Intercept []float64
}

// check reports a start whose shape is not k rows of d coefficients, or
// that holds a value that is not finite.
func (w *WarmStart) check(what string, k, d int) error {
	if len(w.Coef) != k*d || len(w.Intercept) != k {
		return fmt.Errorf("ml: %s: the warm start has %d coefficients and %d intercepts; the rows need %d×%d and %d",
			what, len(w.Coef), len(w.Intercept), k, d, k)
	}
	for i, v := range w.Coef {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("ml: %s: warm-start coefficient %d is %v", what, i, v)
		}
	}
	for i, v := range w.Intercept {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("ml: %s: warm-start intercept %d is %v", what, i, v)
		}
	}
	return nil
}

// standardised writes into v the parameters in the objective's space that
// stand for the start's coefficients and intercepts: the inverse of
// original, vₖⱼ = wₖⱼ·sⱼ and bₖ = cₖ + Σⱼ μⱼwₖⱼ. Without a fitted
// intercept the start's intercepts are not used.
func (o *glmObjective) standardised(v []float64, w *WarmStart) {
	d := o.d
	for c := 0; c < o.k; c++ {
		var shift float64
		for j := 0; j < d; j++ {
			wj := w.Coef[c*d+j]
			v[c*d+j] = wj * o.scale[j]
			shift += o.center[j] * wj
		}
		if o.intercept {
			v[o.k*d+c] = w.Intercept[c] + shift
		}
	}
}

// start returns the objective's starting point: the warm start when g has
// one, else zero coefficients with init's intercepts (init may be nil).
func (o *glmObjective) start(g glmSpec, init func(b []float64)) ([]float64, error) {
	v0 := make([]float64, o.Dim())
	if g.start != nil {
		if err := g.start.check(g.what, o.k, o.d); err != nil {
			return nil, err
		}
		o.standardised(v0, g.start)
		return v0, nil
	}
	if o.intercept && init != nil {
		init(v0[o.k*o.d:])
	}
	return v0, nil
}
