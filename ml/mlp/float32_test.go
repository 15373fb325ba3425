package mlp

import (
	"context"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
)

// Float32 blocks are refused with an error naming the partition, not a
// panic.
func TestFloat32Refused(t *testing.T) {
	e := newEngine(t, 1)
	bb := cluster.NewDense32Builder(2, 4)
	for i := range 4 {
		if err := bb.AddDense([]float64{1, float64(i)}, float64(i%2), 1); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := e.FromBlocks(context.Background(), "f32", []*cluster.Block{bb.Block()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Train(context.Background(), e, ds, Config{Hidden: []int{2}, Epochs: 1, Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "partition 0 holds float32 rows; the MLP reads float64 rows only") {
		t.Fatalf("Train on float32 rows = %v", err)
	}
}
