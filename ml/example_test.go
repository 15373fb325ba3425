package ml_test

import (
	"context"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
)

// sumOfSquares is ½‖x − (1, 2, 3)‖², an Objective evaluated in memory.
type sumOfSquares struct{}

func (sumOfSquares) Dim() int { return 3 }

func (sumOfSquares) Eval(_ context.Context, grad, x []float64) (float64, error) {
	var f float64
	for j := range x {
		d := x[j] - float64(j+1)
		f += d * d / 2
		grad[j] = d
	}
	return f, nil
}

func ExampleMinimize() {
	res, err := ml.Minimize(context.Background(), sumOfSquares{}, make([]float64, 3), nil, ml.Settings{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("x = %.4f\n", res.X)
	// With an L1 term of weight 1.5 on every coordinate: soft-thresholded.
	res, err = ml.Minimize(context.Background(), sumOfSquares{}, make([]float64, 3), []float64{1.5, 1.5, 1.5}, ml.Settings{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("x = %.4f\n", res.X)
	// Output:
	// x = [1.0000 2.0000 3.0000]
	// x = [0.0000 0.5000 1.5000]
}

func ExampleLinearRegression() {
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	// y = 2·x₀ − x₁ + 1, four rows.
	x := []float64{0, 0, 1, 0, 0, 1, 1, 1}
	y := []float64{1, 3, 0, 2}
	ds, err := e.FromDense(context.Background(), "toy", x, 4, 2, y, nil, 2)
	if err != nil {
		panic(err)
	}
	m, err := ml.LinearRegression{}.Fit(context.Background(), e, ds)
	if err != nil {
		panic(err)
	}
	fmt.Printf("coef %.3f intercept %.3f, solver %s\n", m.Coef, m.Intercept, m.Summary.Solver)
	fmt.Printf("prediction at (2, 3): %.3f\n", m.Predict([]float64{2, 3}))
	// Output:
	// coef [2.000 -1.000] intercept 1.000, solver normal
	// prediction at (2, 3): 2.000
}

func ExampleLogisticRegression() {
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	// One feature; the label is 1 above 0.5, with two exceptions.
	x := []float64{0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 1, 0.35, 0.65}
	y := []float64{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0}
	ds, err := e.FromDense(context.Background(), "toy", x, 12, 1, y, nil, 3)
	if err != nil {
		panic(err)
	}
	m, err := ml.LogisticRegression{RegParam: 0.01}.Fit(context.Background(), e, ds)
	if err != nil {
		panic(err)
	}
	p := make([]float64, 2)
	m.Proba(p, []float64{0.9})
	fmt.Printf("P(y=1 | x=0.9) = %.2f, class %v\n", p[1], m.Predict([]float64{0.9}))
	ev, err := ml.Evaluate(context.Background(), e, ds, m)
	if err != nil {
		panic(err)
	}
	fmt.Printf("accuracy %.3f, AUC %.3f\n", ev.Accuracy, ev.AUC)
	enc, _ := m.MarshalBinary()
	back, err := ml.UnmarshalModel(enc)
	if err != nil {
		panic(err)
	}
	fmt.Println("decoded:", back.Algorithm(), back.(ml.Classifier).NumClasses(), "classes")
	// Output:
	// P(y=1 | x=0.9) = 0.82, class 1
	// accuracy 0.833, AUC 0.917
	// decoded: logistic 2 classes
}
