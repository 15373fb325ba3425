package kmeans

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"strings"
	"testing"

	"github.com/flintml/flint/ml/internal/mltest"
)

func fittedModel(t *testing.T) (*Model, []float64) {
	t.Helper()
	const n, dim, k = 600, 7, 4
	x, y := blobs(n, dim, k, 21)
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "b", x, n, dim, y, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Fit(context.Background(), e, ds, Config{K: k, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return m, x
}

func TestPredictAgreesWithTraining(t *testing.T) {
	m, x := fittedModel(t)
	batch, err := m.PredictBatch(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int64, m.K)
	for i, c := range batch {
		one, err := m.Predict(x[i*m.Dim : (i+1)*m.Dim])
		if err != nil {
			t.Fatal(err)
		}
		var ind []int32
		var val []float64
		for l, v := range x[i*m.Dim : (i+1)*m.Dim] {
			if l%2 == 0 { // a sparse copy of the row: its even features
				ind, val = append(ind, int32(l)), append(val, v)
			}
		}
		dense := make([]float64, m.Dim)
		for n, l := range ind {
			dense[l] = val[n]
		}
		sp, err := m.PredictSparse(ind, val)
		if err != nil {
			t.Fatal(err)
		}
		dp, _ := m.Predict(dense)
		if one != c || sp != dp {
			t.Fatalf("row %d: Predict %d, PredictBatch %d; sparse %d, dense copy %d", i, one, c, sp, dp)
		}
		counts[c]++
	}
	for j := range counts {
		if counts[j] != m.Sizes[j] {
			t.Errorf("cluster %d: %d rows predicted, Sizes says %d", j, counts[j], m.Sizes[j])
		}
	}
	if _, err := m.Predict(x[:3]); err == nil {
		t.Error("Predict of a short row: no error")
	}
	if _, err := m.PredictBatch(nil, x[:m.Dim+1]); err == nil {
		t.Error("PredictBatch of a ragged batch: no error")
	}
	if _, err := m.PredictSparse([]int32{3, 1}, []float64{1, 1}); err == nil {
		t.Error("PredictSparse with decreasing indices: no error")
	}
}

func TestModelRoundTrip(t *testing.T) {
	m, _ := fittedModel(t)
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Model
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got.K != m.K || got.Dim != m.Dim || !mltest.BitsEqual(got.Centres, m.Centres) || got.Inertia != m.Inertia ||
		math.Float64bits(got.Silhouette) != math.Float64bits(m.Silhouette) || got.Iterations != m.Iterations ||
		got.Converged != m.Converged || len(got.Sizes) != len(m.Sizes) {
		t.Fatalf("round trip changed the model:\n got %+v\nwant %+v", got, *m)
	}
	for i := range m.Sizes {
		if got.Sizes[i] != m.Sizes[i] {
			t.Fatalf("sizes %v, want %v", got.Sizes, m.Sizes)
		}
	}

	// A version this build does not know, with a valid checksum.
	future := append([]byte(nil), b...)
	binary.LittleEndian.PutUint16(future[8:], 2)
	binary.LittleEndian.PutUint32(future[len(future)-4:], crc32.Checksum(future[:len(future)-4], castagnoli))
	if err := got.UnmarshalBinary(future); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("version 2: err %v, want ErrVersion naming it", err)
	}
	flipped := append([]byte(nil), b...)
	flipped[40] ^= 1
	if err := got.UnmarshalBinary(flipped); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("flipped bit: err %v, want a checksum error", err)
	}
	for _, n := range []int{0, 5, 12, 20, len(b) - 1} {
		if err := got.UnmarshalBinary(b[:n]); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	other := append([]byte(nil), b[:10]...)
	other = append(other, 3, 'a', 'l', 's')
	if err := got.UnmarshalBinary(append(other, b[17:]...)); err == nil || !strings.Contains(err.Error(), `"als" model`) {
		t.Errorf("another kind: err %v", err)
	}
}
