package bayes_test

import (
	"context"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/bayes"
)

func ExampleFit() {
	// Word counts of six short documents over the vocabulary
	// (ball, goal, vote, law): three about sport (class 0), three about
	// politics (class 1).
	x := []float64{
		3, 2, 0, 0,
		1, 3, 0, 1,
		2, 1, 1, 0,
		0, 0, 2, 3,
		0, 1, 3, 1,
		1, 0, 2, 2,
	}
	y := []float64{0, 0, 0, 1, 1, 1}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	ctx := context.Background()
	ds, err := e.FromDense(ctx, "docs", x, 6, 4, y, nil, 2)
	if err != nil {
		panic(err)
	}
	m, err := bayes.Fit(ctx, e, ds, bayes.Config{ModelType: bayes.Multinomial})
	if err != nil {
		panic(err)
	}
	doc := []float64{0, 2, 0, 0} // "goal goal"
	p := make([]float64, 2)
	m.Proba(p, doc)
	fmt.Printf("class %d, P(sport) = %.3f\n", m.Predict(doc), p[0])
	// Output: class 0, P(sport) = 0.932
}
