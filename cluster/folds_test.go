package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// rowsIntact checks that every row of b still carries its own values
// (testBlocks writes y + j/100 at column j) and returns the labels.
func rowsIntact(t *testing.T, what string, b *Block) []float64 {
	t.Helper()
	for i := 0; i < b.Rows; i++ {
		y := b.Y[i]
		if b.Sparse() {
			ind, val := b.SparseRow(i)
			for k, j := range ind {
				if val[k] != y+float64(j)/100 {
					t.Fatalf("%s: sparse row %d (label %v) holds %v at column %d", what, i, y, val[k], j)
				}
			}
			continue
		}
		for j, v := range b.DenseRow(i, make([]float64, b.Cols)) {
			want := y + float64(j)/100
			if b.Float32() {
				want = float64(float32(want))
			}
			if v != want {
				t.Fatalf("%s: row %d (label %v) holds %v at column %d", what, i, y, v, j)
			}
		}
	}
	return b.Y
}

func labelsOf(t *testing.T, e *Engine, ds *Dataset) []float64 {
	t.Helper()
	var ys []float64
	for p, b := range blocksOf(t, e, ds) {
		ys = append(ys, rowsIntact(t, fmt.Sprintf("%s partition %d", ds.Name(), p), b)...)
	}
	slices.Sort(ys)
	return ys
}

// TestFoldViewsHoldTheCopiesRows: each fold's test view holds the rows, in
// the order, of the copying split's test dataset, its training view the
// same rows as the copying training dataset, the views add no cached
// bytes and share the parent's memory, and folds of another seed made
// after dropping them are the copies' again (a row's fold is drawn from
// its original position).
func TestFoldViewsHoldTheCopiesRows(t *testing.T) {
	for _, c := range []struct {
		sparse, weighted bool
		k                int
	}{
		{false, false, 5}, {false, true, 3}, {false, false, 2}, {true, false, 5}, {true, true, 4},
	} {
		t.Run(fmt.Sprintf("sparse=%v/weighted=%v/k=%d", c.sparse, c.weighted, c.k), func(t *testing.T) {
			ctx := context.Background()
			e := newEngine(t, 3)
			src := testBlocks(5, 200, 6, c.sparse, c.weighted, 9)
			ref, err := e.FromBlocks(ctx, "ref", cloneBlocks(src))
			if err != nil {
				t.Fatal(err)
			}
			ds, err := e.FromBlocks(ctx, "ds", src)
			if err != nil {
				t.Fatal(err)
			}
			for _, seed := range []uint64{77, 78, 77} {
				wantTrain, wantTest, err := copyFolds(ctx, e, ref, c.k, seed)
				if err != nil {
					t.Fatal(err)
				}
				before := e.Cached()
				train, test, err := Folds(ctx, e, ds, c.k, seed)
				if err != nil {
					t.Fatal(err)
				}
				if e.Cached() != before {
					t.Fatalf("seed %d: %d folds added %d cached bytes", seed, c.k, e.Cached()-before)
				}
				for i := range test {
					sameRows(t, fmt.Sprintf("seed %d fold %d test", seed, i), blocksOf(t, e, test[i]), blocksOf(t, e, wantTest[i]))
					if got, want := labelsOf(t, e, train[i]), labelsOf(t, e, wantTrain[i]); !slices.Equal(got, want) {
						t.Fatalf("seed %d fold %d: training view has %d rows, the copy %d, or other ones", seed, i, len(got), len(want))
					}
					if train[i].Bytes() != 0 || test[i].Bytes() != 0 {
						t.Fatalf("fold %d: views account %d and %d bytes", i, train[i].Bytes(), test[i].Bytes())
					}
				}
				if !c.sparse {
					for _, b := range blocksOf(t, e, train[1]) {
						if !shares(b, src) {
							t.Fatal("a training view does not share the parent's memory")
						}
					}
				}
				// The parent still answers copying selections as before.
				a := SplitArg{Seed: 5, Lo: 0, Hi: 0.4}
				got, err := Select(ctx, e, ds, "sel", a)
				if err != nil {
					t.Fatal(err)
				}
				want, err := Select(ctx, e, ref, "sel", a)
				if err != nil {
					t.Fatal(err)
				}
				sameRows(t, "a copying selection of the rearranged parent", blocksOf(t, e, got), blocksOf(t, e, want))
				for _, d := range append(append(append(append([]*Dataset{got, want}, train...), test...), wantTrain...), wantTest...) {
					e.Drop(d)
				}
				if e.Cached() != ref.Bytes()+ds.Bytes() {
					t.Fatalf("after dropping the folds %d bytes are cached, want %d", e.Cached(), ref.Bytes()+ds.Bytes())
				}
			}
		})
	}
}

// shares reports whether b's rows lie inside one of the blocks' memory.
func shares(b *Block, in []*Block) bool {
	if b.Rows == 0 {
		return true
	}
	for _, s := range in {
		if len(s.X) > 0 && &b.X[0] == &s.X[0] {
			return true
		}
		for i := 0; i < s.Rows; i++ {
			if &b.X[0] == &s.X[i*s.Cols] {
				return true
			}
		}
	}
	return false
}

// TestFoldViewsGuards: folds of another seed wait until the live views are
// dropped, a rearranged dataset cannot be split consuming, and a Scope
// owns the views it made.
func TestFoldViewsGuards(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, 2)
	s := NewScope(e)
	ds, err := s.FromBlocks(ctx, "ds", testBlocks(3, 50, 4, false, false, 3))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Folds(ctx, s, ds, 3, 1); err != nil {
		t.Fatal(err)
	}
	if s.Live() != 7 {
		t.Fatalf("the scope owns %d datasets, want the parent and 6 folds", s.Live())
	}
	if _, _, err := Folds(ctx, s, ds, 3, 1); err != nil {
		t.Fatalf("the same folds again: %v", err)
	}
	if _, _, err := Folds(ctx, s, ds, 4, 1); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("4 folds while 3-fold views are live: %v", err)
	}
	if _, _, err := Folds(ctx, s, ds, 1, 1); err == nil || !strings.Contains(err.Error(), "at least 2 folds") {
		t.Fatalf("one fold: %v", err)
	}
	// Folds of a fold are copies, and leave the parent's folds as they were.
	train, test, err := Folds(ctx, s, ds, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := labelsOf(t, e, test[0])
	before := e.Cached()
	inner, _, err := Folds(ctx, s, train[0], 2, 9)
	if err != nil {
		t.Fatal(err)
	}
	if e.Cached() == before || inner[0].Bytes() == 0 {
		t.Fatal("folds of a fold view are views too")
	}
	if got := labelsOf(t, e, test[0]); !slices.Equal(got, want) {
		t.Fatal("folds of a fold moved the parent's rows")
	}
	if _, _, err := SplitConsuming(ctx, s, train[0], 0.5, 1); err == nil || !strings.Contains(err.Error(), "fold view") {
		t.Fatalf("consuming split of a fold view: %v", err)
	}
	if _, _, err := SplitConsuming(ctx, s, ds, 0.5, 1); err == nil || !strings.Contains(err.Error(), "fold views") {
		t.Fatalf("consuming split of a rearranged dataset: %v", err)
	}
	s.Close()
	if e.Cached() != 0 {
		t.Fatalf("%d bytes cached after the scope closed", e.Cached())
	}
}

// BenchmarkFolds makes 5 folds of a Fashion-MNIST-sized dense dataset
// (60 000 × 784, 4 partitions): as copies (two Selects a fold) and as
// views. B/op is what the folds allocate; the views' is the permutation.
//
//	go test ./cluster -run '^$' -bench Folds -benchtime 3x
func BenchmarkFolds(b *testing.B) {
	const rows, cols, parts, k = 60000, 784, 4, 5
	ctx := context.Background()
	for _, views := range []bool{false, true} {
		b.Run(fmt.Sprintf("views=%v", views), func(b *testing.B) {
			e := NewEngine(Config{Workers: 2})
			defer e.Close()
			x := make([]float64, rows*cols)
			for i := range x {
				x[i] = float64(i % 255)
			}
			y := make([]float64, rows)
			b.SetBytes(int64(8 * rows * cols))
			b.ReportAllocs()
			for seed := uint64(1); b.Loop(); seed++ {
				b.StopTimer()
				ds, err := e.FromDense(ctx, "d", x, rows, cols, y, nil, parts)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				var train, test []*Dataset
				if views {
					train, test, err = Folds(ctx, e, ds, k, seed)
				} else {
					train, test, err = copyFolds(ctx, e, ds, k, seed)
				}
				if err != nil {
					b.Fatal(err)
				}
				dropAll(e, train)
				dropAll(e, test)
				e.Drop(ds)
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
