package ml

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
)

// gd is (proximal) gradient descent. The trial step is the Barzilai–Borwein
// step sᵀs/sᵀy of the last iteration (Settings.StepSize at first), halved
// until the sufficient-decrease condition of proximal gradient methods,
// f(x⁺) ≤ f(x) + ∇f(x)ᵀ(x⁺−x) + ‖x⁺−x‖²/(2t), holds.
type gd struct {
	r *runner
	// x, its gradient g (of the smooth part f) and pseudo-gradient pg, the
	// trial point xn with its gradient gn, and diff = xn − x.
	x, g, pg, xn, gn, diff []float64
	f, F                   float64 // f(x), and F = f(x) + the L1 term
	t                      float64 // the next trial step
}

// gdTrials bounds the halvings of one line search.
const gdTrials = 60

func (m *gd) kind() methodKind { return methodKind{name: "GD", full: true} }

func (m *gd) init(x0 []float64, st *State) (iterate, error) {
	r := m.r
	if st != nil {
		m.x, m.g = slices.Clone(st.X), slices.Clone(st.grad)
		m.f, m.F, m.t = st.f, st.F, st.step
	} else {
		m.x, m.g = slices.Clone(x0), make([]float64, len(x0))
		f, err := r.eval(m.g, m.x)
		if err != nil {
			return iterate{}, err
		}
		m.f, m.F, m.t = f, f+l1Norm(m.x, r.l1), r.s.StepSize
	}
	n := len(m.x)
	m.pg, m.xn, m.gn, m.diff = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	pseudoGradient(m.pg, m.x, m.g, r.l1)
	return m.at(), nil
}

func (m *gd) at() iterate { return iterate{x: m.x, f: m.F, gnorm: floats.Norm(m.pg, 2)} }

func (m *gd) step(int) (iterate, error) {
	r := m.r
	xn, gn, diff := m.xn, m.gn, m.diff
	accepted := false
	var fn float64
	stalled := ""
	for trial := 0; trial < gdTrials; trial++ {
		copy(xn, m.x)
		floats.AddScaled(xn, -m.t, m.g)
		softThreshold(xn, r.l1, m.t)
		floats.SubTo(diff, xn, m.x)
		if floats.Norm(diff, math.Inf(1)) == 0 {
			stalled = "the step underflowed" // nothing left to gain
			break
		}
		var err error
		if fn, err = r.eval(gn, xn); err != nil {
			return iterate{}, err
		}
		if fn <= m.f+floats.Dot(m.g, diff)+floats.Dot(diff, diff)/(2*m.t) {
			accepted = true
			break
		}
		m.t /= 2
	}
	switch {
	case !accepted && stalled == "":
		stalled = fmt.Sprintf("no sufficient decrease in %d halvings of the step", gdTrials)
	case accepted && fn+l1Norm(xn, r.l1) >= m.F:
		stalled = "the step did not decrease the objective"
	}
	if stalled != "" {
		at := m.at()
		at.stalled = stalled
		return at, nil
	}
	taken := m.t
	// Barzilai–Borwein step for the next trial.
	var sy, ss float64
	for j := range diff {
		y := gn[j] - m.g[j]
		sy += diff[j] * y
		ss += diff[j] * diff[j]
	}
	if sy > 0 {
		m.t = ss / sy
	}
	m.x, m.xn = xn, m.x
	m.g, m.gn = gn, m.g
	m.f = fn
	prev := m.F
	m.F = m.f + l1Norm(m.x, r.l1)
	pseudoGradient(m.pg, m.x, m.g, r.l1)
	at := m.at()
	at.step = taken
	at.tol = relStop(r.s.Tol, prev, m.F)
	return at, nil
}

func (m *gd) state(iter int, res *Result) *State {
	r := m.r
	return &State{Method: GD, L1: r.l1 != nil, Iter: iter, Evaluations: r.evals,
		X: slices.Clone(m.x), F: m.F, GradNorm: floats.Norm(m.pg, 2), History: slices.Clone(res.History),
		grad: slices.Clone(m.g), f: m.f, step: m.t}
}
