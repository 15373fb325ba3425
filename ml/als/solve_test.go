package als

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestSolveMatchesDenseNormalEquations forms each row's normal equations
// the plain way (Σ c·y·yᵀ + λn·I, Σ c·p·y, by loops) and solves them with
// gonum, then checks the solver's factor (tile.Gram over the gathered rows,
// tile.Cholesky of [A b], the back substitution) and its loss terms
// against that, for explicit, biased and implicit feedback, at ranks whose
// row width (rank + 1, rounded up to 8) has every kind of padding, and
// for rows with more ratings than one gather chunk holds.
func TestSolveMatchesDenseNormalEquations(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	const others = 700
	for _, kind := range []string{"explicit", "biased", "implicit"} {
		for _, k := range []int{1, 3, 7, 8, 15, 16, 50} {
			if kind == "biased" && k < 2 {
				continue
			}
			t.Run(fmt.Sprintf("%s/rank=%d", kind, k), func(t *testing.T) {
				a := randomArgs(rng, k, others, kind == "implicit", kind == "biased")
				s := newSolver(a)
				for _, n := range []int{1, 5, chunkFor(k) + 3, 2*chunkFor(k) + 1} {
					ind, val := randomRatings(rng, others, min(n, others), a.Implicit)
					got := make([]float64, k)
					if err := s.solve(got, ind, val); err != nil {
						t.Fatal(err)
					}
					want, wantLoss := denseSolve(t, a, ind, val)
					scale := 0.0
					for _, v := range want {
						scale = max(scale, math.Abs(v))
					}
					for i := range want {
						if d := math.Abs(got[i] - want[i]); d > 1e-9*scale {
							t.Fatalf("%d ratings: x[%d] = %v, the dense solve gives %v", n, i, got[i], want[i])
						}
					}
					if l := s.loss(got); math.Abs(l-wantLoss) > 1e-8*(1+math.Abs(wantLoss)) {
						t.Fatalf("%d ratings: loss %v, the dense one %v", n, l, wantLoss)
					}
				}
			})
		}
	}
}

// randomArgs is a half-iteration's broadcast for rows at rank k against
// others random factors (with biases: the last column 1 and a bias each;
// implicit: YᵀY too), objective terms measured.
func randomArgs(rng *rand.Rand, k, others int, implicit, biased bool) *solveArgs {
	a := &solveArgs{Rank: k, Other: make([]float64, others*k), Lambda: 0.05, Alpha: 2, Implicit: implicit, Loss: lossAll}
	for i := range a.Other {
		a.Other[i] = rng.NormFloat64()
	}
	if biased {
		a.OtherBias, a.Mean = make([]float64, others), 3
		for i := range a.OtherBias {
			a.OtherBias[i] = 0.3 * rng.NormFloat64()
			a.Other[i*k+k-1] = 1
		}
	}
	if implicit {
		a.YtY = gram(a.Other, k)
	}
	return a
}

// randomRatings is n distinct ones of others with ratings 1–5 (implicit:
// a third of them negative).
func randomRatings(rng *rand.Rand, others, n int, implicit bool) ([]int32, []float64) {
	ind, val := make([]int32, n), make([]float64, n)
	for l, j := range rng.Perm(others)[:n] {
		ind[l], val[l] = int32(j), float64(1+rng.IntN(5))
		if implicit && rng.IntN(3) == 0 {
			val[l] = -val[l]
		}
	}
	return ind, val
}

// denseSolve solves one row's normal equations as solve documents them,
// with plain loops and gonum's Cholesky, and returns the factor and the
// row's term of the objective at it (Σ c·p² − x·rhs: the data term plus
// the regularisation at the optimum).
func denseSolve(t *testing.T, a *solveArgs, ind []int32, val []float64) ([]float64, float64) {
	k := a.Rank
	A, b, sumSq := denseNormal(a, ind, val)
	var ch mat.Cholesky
	if !ch.Factorize(A) {
		t.Fatal("the dense normal equations are not positive definite")
	}
	var x mat.VecDense
	if err := ch.SolveVecTo(&x, mat.NewVecDense(k, b)); err != nil {
		t.Fatal(err)
	}
	out := make([]float64, k)
	dot := 0.0
	for i := range k {
		out[i] = x.AtVec(i)
		dot += out[i] * b[i]
	}
	return out, sumSq - dot
}

// denseNormal forms one row's normal equations A x = b as solve documents
// them, with plain loops, and the row's Σ c·p².
func denseNormal(a *solveArgs, ind []int32, val []float64) (*mat.SymDense, []float64, float64) {
	k := a.Rank
	A, b := mat.NewSymDense(k, nil), make([]float64, k)
	count, sumSq := 0, 0.0
	for l, j := range ind {
		y := a.Other[int(j)*k : int(j)*k+k]
		r, c, p := val[l], 1.0, 1.0
		switch {
		case a.Implicit:
			c1 := a.Alpha * math.Abs(r)
			if r > 0 {
				count++
				sumSq += 1 + c1
				for i := range k {
					b[i] += (1 + c1) * y[i]
				}
			}
			c, p = c1, 0
		default:
			count++
			if a.OtherBias != nil {
				r -= a.Mean + a.OtherBias[j]
			}
			sumSq += r * r
			p = r
		}
		for i := range k {
			if !a.Implicit {
				b[i] += p * y[i]
			}
			for jj := i; jj < k; jj++ {
				A.SetSym(i, jj, A.At(i, jj)+c*y[i]*y[jj])
			}
		}
	}
	for i := range k {
		for jj := i; jj < k; jj++ {
			v := A.At(i, jj)
			if a.Implicit {
				v += a.YtY[i*k+jj]
			}
			if i == jj {
				v += a.Lambda * float64(count)
			}
			A.SetSym(i, jj, v)
		}
	}
	return A, b, sumSq
}

// TestSolveNonNegMeetsKKT: the non-negative solve, fed through the tile
// path's Gramian, satisfies the optimality conditions of min ½xᵀAx − bᵀx
// subject to x ≥ 0 on the normal equations formed by plain loops: x ≥ 0,
// the gradient A·x − b zero where x > 0 and non-negative where x = 0, for
// explicit and implicit feedback at several ranks and rating counts.
func TestSolveNonNegMeetsKKT(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	const others = 500
	for _, implicit := range []bool{false, true} {
		for _, k := range []int{1, 3, 8, 15, 50} {
			a := randomArgs(rng, k, others, implicit, false)
			a.NonNeg = true
			s := newSolver(a)
			for _, n := range []int{2, 9, chunkFor(k) + 3} {
				ind, val := randomRatings(rng, others, min(n, others), implicit)
				x := make([]float64, k)
				if err := s.solve(x, ind, val); err != nil {
					t.Fatal(err)
				}
				A, b, _ := denseNormal(a, ind, val)
				scale := 0.0
				for _, v := range b {
					scale = max(scale, math.Abs(v))
				}
				tol := 1e-8 * (1 + scale)
				for i := range k {
					g := -b[i]
					for j := range k {
						g += A.At(i, j) * x[j]
					}
					switch {
					case x[i] < 0:
						t.Fatalf("implicit=%v k=%d n=%d: x[%d] = %v < 0", implicit, k, n, i, x[i])
					case x[i] > 0 && math.Abs(g) > tol:
						t.Fatalf("implicit=%v k=%d n=%d: x[%d] = %v is free but the gradient is %v", implicit, k, n, i, x[i], g)
					case x[i] == 0 && g < -tol:
						t.Fatalf("implicit=%v k=%d n=%d: x[%d] is held at 0 though the gradient %v says to raise it", implicit, k, n, i, g)
					}
				}
			}
		}
	}
}
