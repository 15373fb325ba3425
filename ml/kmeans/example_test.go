package kmeans_test

import (
	"context"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/kmeans"
)

func ExampleFit() {
	// Six points on a line, in two obvious groups.
	x := []float64{1, 1.5, 2, 10, 10.5, 11}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	ctx := context.Background()
	ds, err := e.FromDense(ctx, "points", x, 6, 1, make([]float64, 6), nil, 2)
	if err != nil {
		panic(err)
	}
	m, err := kmeans.Fit(ctx, e, ds, kmeans.Config{K: 2, Seed: 1})
	if err != nil {
		panic(err)
	}
	a, _ := m.Predict([]float64{0})
	b, _ := m.Predict([]float64{12})
	fmt.Printf("centres %.1f and %.1f, inertia %.1f\n", m.Centres[a], m.Centres[b], m.Inertia)
	// Output: centres 1.5 and 10.5, inertia 1.0
}
