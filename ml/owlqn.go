package ml

import (
	"fmt"
	"slices"

	"gonum.org/v1/gonum/floats"
)

// owlqn is Andrew and Gao's orthant-wise limited-memory quasi-Newton method
// for f(x) + Σ l1ⱼ|xⱼ|: L-BFGS on the pseudo-gradient, with steps kept in
// the orthant of the current point and a backtracking line search.
type owlqn struct {
	r *runner
	// x, its gradient g (of the smooth part) and pseudo-gradient pg, the
	// search direction d, and the trial point xn with its gradient gn.
	x, g, pg, d, xn, gn []float64
	F                   float64 // the objective at x, L1 term included
	hist                *lbfgsHistory
}

// owlqnTrials bounds the halvings of one line search.
const owlqnTrials = 40

func (m *owlqn) kind() methodKind { return methodKind{name: "OWL-QN", full: true} }

func (m *owlqn) init(x0 []float64, st *State) (iterate, error) {
	r := m.r
	if st != nil {
		m.x, m.g, m.F = slices.Clone(st.X), slices.Clone(st.grad), st.F
	} else {
		m.x, m.g = slices.Clone(x0), make([]float64, len(x0))
		f, err := r.eval(m.g, m.x)
		if err != nil {
			return iterate{}, err
		}
		m.F = f + l1Norm(m.x, r.l1)
	}
	n := len(m.x)
	m.pg, m.d, m.xn, m.gn = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	m.hist = newLBFGSHistory(r.s.Memory, n)
	if st != nil {
		m.hist.load(st.s, st.y, st.rho)
	}
	pseudoGradient(m.pg, m.x, m.g, r.l1)
	return m.at(), nil
}

func (m *owlqn) at() iterate { return iterate{x: m.x, f: m.F, gnorm: floats.Norm(m.pg, 2)} }

func (m *owlqn) step(int) (iterate, error) {
	r, d, pg := m.r, m.d, m.pg
	// Direction: -H·pg, then zero the components that disagree in sign
	// with the steepest descent direction -pg.
	copy(d, pg)
	m.hist.apply(d)
	floats.Scale(-1, d)
	for j := range d {
		if r.l1[j] > 0 && d[j]*pg[j] >= 0 {
			d[j] = 0
		}
	}
	step := 1.0
	if m.hist.len == 0 {
		step = 1 / floats.Norm(d, 2)
	}
	accepted := false
	var Fn float64
	for trial := 0; trial < owlqnTrials; trial++ {
		m.project(step)
		fn, err := r.eval(m.gn, m.xn)
		if err != nil {
			return iterate{}, err
		}
		Fn = fn + l1Norm(m.xn, r.l1)
		var dec float64
		for j := range m.xn {
			dec += pg[j] * (m.xn[j] - m.x[j])
		}
		if Fn <= m.F+1e-4*dec {
			accepted = true
			break
		}
		step /= 2
	}
	if !accepted || Fn >= m.F {
		// No step decreases the objective: the optimum is reached to
		// rounding precision.
		at := m.at()
		at.stalled = fmt.Sprintf("no step decreased the objective in %d halvings", owlqnTrials)
		if accepted {
			at.stalled = "the step did not decrease the objective"
		}
		return at, nil
	}
	m.hist.push(m.xn, m.x, m.gn, m.g)
	m.x, m.xn = m.xn, m.x
	m.g, m.gn = m.gn, m.g
	prev := m.F
	m.F = Fn
	pseudoGradient(pg, m.x, m.g, r.l1)
	at := m.at()
	at.step = step
	at.tol = relStop(r.s.Tol, prev, m.F)
	return at, nil
}

// project writes x + step·d into xn, with the components that would leave
// x's orthant (for xⱼ = 0, the orthant of −pgⱼ) set to 0.
func (m *owlqn) project(step float64) {
	for j := range m.xn {
		v := m.x[j] + step*m.d[j]
		if c := m.r.l1[j]; c > 0 {
			orth := m.x[j]
			if orth == 0 {
				orth = -m.pg[j]
			}
			if v*orth <= 0 {
				v = 0
			}
		}
		m.xn[j] = v
	}
}

func (m *owlqn) state(iter int, res *Result) *State {
	r := m.r
	st := &State{Method: LBFGS, L1: true, Iter: iter, Evaluations: r.evals,
		X: slices.Clone(m.x), F: m.F, GradNorm: floats.Norm(m.pg, 2), History: slices.Clone(res.History),
		grad: slices.Clone(m.g), memory: r.s.Memory}
	st.s, st.y, st.rho = m.hist.pairs()
	return st
}

// lbfgsHistory is the ring of correction pairs of OWL-QN.
type lbfgsHistory struct {
	s, y   [][]float64
	rho, a []float64
	next   int // slot the next pair goes to
	len    int
	ts, ty []float64 // a candidate pair, swapped into its slot when accepted
}

func newLBFGSHistory(m, n int) *lbfgsHistory {
	h := &lbfgsHistory{s: make([][]float64, m), y: make([][]float64, m), rho: make([]float64, m), a: make([]float64, m),
		ts: make([]float64, n), ty: make([]float64, n)}
	for i := range h.s {
		h.s[i] = make([]float64, n)
		h.y[i] = make([]float64, n)
	}
	return h
}

// push stores s = xn - x and y = gn - g, unless the curvature sᵀy is not
// positive (possible with a backtracking search), which would break the
// positive-definiteness of the approximation. A rejected pair leaves the
// history as it was (the slot it would take may hold the oldest pair).
func (h *lbfgsHistory) push(xn, x, gn, g []float64) {
	s, y := h.ts, h.ty
	floats.SubTo(s, xn, x)
	floats.SubTo(y, gn, g)
	sy := floats.Dot(s, y)
	if !(sy > 1e-10*floats.Dot(y, y)) {
		return
	}
	h.s[h.next], h.ts = s, h.s[h.next]
	h.y[h.next], h.ty = y, h.y[h.next]
	h.rho[h.next] = 1 / sy
	h.next = (h.next + 1) % len(h.s)
	h.len = min(h.len+1, len(h.s))
}

// apply overwrites d with H·d by the two-loop recursion.
func (h *lbfgsHistory) apply(d []float64) {
	m := len(h.s)
	for k := 0; k < h.len; k++ {
		i := (h.next - 1 - k + m) % m
		h.a[i] = h.rho[i] * floats.Dot(h.s[i], d)
		floats.AddScaled(d, -h.a[i], h.y[i])
	}
	if h.len > 0 {
		i := (h.next - 1 + m) % m
		floats.Scale(1/(h.rho[i]*floats.Dot(h.y[i], h.y[i])), d)
	}
	for k := h.len - 1; k >= 0; k-- {
		i := (h.next - 1 - k + m) % m
		b := h.rho[i] * floats.Dot(h.y[i], d)
		floats.AddScaled(d, h.a[i]-b, h.s[i])
	}
}

// pairs returns copies of the correction pairs, oldest first.
func (h *lbfgsHistory) pairs() (s, y [][]float64, rho []float64) {
	m := len(h.s)
	for k := h.len - 1; k >= 0; k-- {
		i := (h.next - 1 - k + m) % m
		s = append(s, slices.Clone(h.s[i]))
		y = append(y, slices.Clone(h.y[i]))
		rho = append(rho, h.rho[i])
	}
	return s, y, rho
}

// load replaces the history with the given pairs, oldest first. The two-loop
// recursion visits them in the same order as the history that saved them,
// so it computes the same directions bit for bit.
func (h *lbfgsHistory) load(s, y [][]float64, rho []float64) {
	for i := range s {
		copy(h.s[i], s[i])
		copy(h.y[i], y[i])
		h.rho[i] = rho[i]
	}
	h.len = len(s)
	h.next = len(s) % len(h.s)
}
