package bayes

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
	bb := cluster.NewDense32Builder(2, 2)
	for i := range 2 {
		if err := bb.AddDense([]float64{1, 2}, float64(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := e.FromBlocks(context.Background(), "f32", []*cluster.Block{bb.Block()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Fit(context.Background(), e, ds, Config{})
	if err == nil || !strings.Contains(err.Error(), "partition 0 holds float32 rows; naive Bayes reads float64 rows only") {
		t.Fatalf("Fit on float32 rows = %v", err)
	}
}
