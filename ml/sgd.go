package ml

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
)

// sgd is MLlib's mini-batch gradient descent: x ← prox(x − η₀/√t · ∇f_B(x)),
// f_B the objective on iteration t's sampled batch. It does not evaluate
// its starting point; F and gnorm are those of the last batch with rows.
type sgd struct {
	r       *runner
	obj     BatchObjective
	x, prev []float64 // the iterate, and the one before the last step
	g       []float64 // the last batch's gradient
	F       float64   // the last batch's objective, L1 term included, at the point it was drawn at
	gnorm   float64   // ‖g‖
}

func (m *sgd) kind() methodKind { return methodKind{name: "SGD"} }

func (m *sgd) init(x0 []float64, st *State) (iterate, error) {
	if st != nil {
		m.x, m.F, m.gnorm = slices.Clone(st.X), st.F, st.GradNorm
	} else {
		m.x = slices.Clone(x0)
	}
	m.prev, m.g = make([]float64, len(m.x)), make([]float64, len(m.x))
	return m.at(), nil
}

func (m *sgd) at() iterate { return iterate{x: m.x, f: m.F, gnorm: m.gnorm} }

func (m *sgd) step(iter int) (iterate, error) {
	r := m.r
	r.evals++
	f, err := m.obj.EvalBatch(r.ctx, m.g, m.x, Batch{Seed: r.s.Seed, Iter: iter, Fraction: r.s.MiniBatchFraction})
	if errors.Is(err, ErrEmptyBatch) { // skipped, as MLlib does
		return iterate{skipped: true}, nil
	}
	if err == nil {
		err = finite(f, m.g)
	}
	if err != nil {
		return iterate{}, err
	}
	m.F = f + l1Norm(m.x, r.l1)
	m.gnorm = floats.Norm(m.g, 2)
	eta := r.s.StepSize / math.Sqrt(float64(iter))
	copy(m.prev, m.x)
	floats.AddScaled(m.x, -eta, m.g)
	softThreshold(m.x, r.l1, eta)
	at := m.at()
	at.step = eta
	if tol := r.s.Tol; tol >= 0 {
		// MLlib's test: the step moved x by less than Tol·max(‖x‖, 1).
		if d, lim := floats.Distance(m.x, m.prev, 2), math.Max(floats.Norm(m.x, 2), 1); d < tol*lim {
			at.tol = fmt.Sprintf("converged: relative parameter change %.2g < tol %g", d/lim, tol)
		}
	}
	return at, nil
}

func (m *sgd) state(iter int, res *Result) *State {
	r := m.r
	return &State{Method: SGD, L1: r.l1 != nil, Iter: iter, Evaluations: r.evals,
		X: slices.Clone(m.x), F: m.F, GradNorm: m.gnorm, History: slices.Clone(res.History), iterations: res.Iterations}
}
