package remote

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/flintml/flint/ml"
)

// Three worker processes fit the in-process engine's linear SVM bit for
// bit: the hinge passes, with the smoothing width in their broadcast, run
// as registered tasks on the workers, and Evaluate decodes the model there.
func TestSVMEqualsEngine(t *testing.T) {
	sources := fileSources(t, 4000, 5)
	e, ref := engineDataset(t, nil, sources)
	d := newDriver(t, Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	startWorkers(t, d, 3, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	svc := ml.LinearSVC{RegParam: 0.01, Standardization: true, Optimizer: ml.Settings{MaxIter: 80}}
	got, err := svc.Fit(ctx, d, ds)
	if err != nil {
		t.Fatal(err)
	}
	want, err := svc.Fit(ctx, e, ref)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "coef", got.Coef, want.Coef)
	sameBits(t, "intercept", []float64{got.Intercept}, []float64{want.Intercept})
	evGot, err := ml.Evaluate(ctx, d, ds, got)
	if err != nil {
		t.Fatal(err)
	}
	evWant, err := ml.Evaluate(ctx, e, ref, want)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "accuracy, AUC", []float64{evGot.Accuracy, evGot.AUC}, []float64{evWant.Accuracy, evWant.AUC})
	if evGot.Accuracy < 0.8 || math.IsNaN(evGot.AUC) {
		t.Fatalf("accuracy %v, AUC %v", evGot.Accuracy, evGot.AUC)
	}
}
