package mlp_test

import (
	"context"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/mlp"
)

// Train a small network on XOR — not linearly separable, so it needs the
// hidden layer — on two workers, then predict with the plain model.
func ExampleTrain() {
	x := []float64{0, 0, 0, 1, 1, 0, 1, 1}
	y := []float64{0, 1, 1, 0}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	ds, err := e.FromDense(context.Background(), "xor", x, 4, 2, y, nil, 2)
	if err != nil {
		panic(err)
	}
	res, err := mlp.Train(context.Background(), e, ds, mlp.Config{
		Hidden: []int{8}, Activation: mlp.Tanh, LearningRate: 0.05, Epochs: 300, Seed: 1,
	})
	if err != nil {
		panic(err)
	}
	classes := make([]int, 4)
	if err := res.Model.Classify(classes, x, 4); err != nil {
		panic(err)
	}
	fmt.Println("classes:", classes)
	fmt.Println("layers:", res.Model.Sizes)
	// Output:
	// classes: [0 1 1 0]
	// layers: [2 8 2]
}
