package cluster

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// labelled returns the labels and weights of the blocks' rows, in order,
// checking that every row still carries its own values (rowsIntact).
func labelled(t *testing.T, what string, bs []*Block) (ys, ws []float64) {
	t.Helper()
	for p, b := range bs {
		ys = append(ys, rowsIntact(t, fmt.Sprintf("%s partition %d", what, p), b)...)
		for i := 0; i < b.Rows; i++ {
			ws = append(ws, b.Weight(i))
		}
	}
	return ys, ws
}

func sorted(s []float64) []float64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// toFloat32 makes dense blocks float32 ones.
func toFloat32(bs []*Block) {
	for _, b := range bs {
		b.X32 = make([]float32, len(b.X))
		for i, v := range b.X {
			b.X32[i] = float32(v)
		}
		b.X = nil
	}
}

// TestFoldViewTransform applies Fold's view transform as a worker does, to
// its cached partitions, for every fold in turn and back: fold i's test
// view holds the rows, in the order, of FoldCopy's test dataset; its
// training view FoldCopy's training rows, in the order of the Engine's
// fold views (Folds) of the same partitions; both share the partition's
// memory; and the partition still answers a copying selection as before.
func TestFoldViewTransform(t *testing.T) {
	for _, c := range []struct {
		sparse, weighted, f32 bool
		k                     int
	}{
		{false, false, false, 5}, {false, true, false, 3}, {false, false, false, 2}, {false, true, true, 5}, {true, false, false, 5}, {true, true, false, 4},
	} {
		t.Run(fmt.Sprintf("sparse=%v/weighted=%v/float32=%v/k=%d", c.sparse, c.weighted, c.f32, c.k), func(t *testing.T) {
			ctx := context.Background()
			e := newEngine(t, 3)
			src := testBlocks(5, 200, 6, c.sparse, c.weighted, 9)
			if c.f32 {
				toFloat32(src)
			}
			ref, err := e.FromBlocks(ctx, "ref", cloneBlocks(src))
			if err != nil {
				t.Fatal(err)
			}
			eng, err := e.FromBlocks(ctx, "eng", cloneBlocks(src))
			if err != nil {
				t.Fatal(err)
			}
			const seed = 41
			engTrain, _, err := Folds(ctx, e, eng, c.k, seed)
			if err != nil {
				t.Fatal(err)
			}
			parts := src // a worker's cached partitions
			order := append(seq(c.k), c.k-1, 1, 0)
			for _, i := range order {
				what := fmt.Sprintf("fold %d of %d", i, c.k)
				var train, test []*Block
				for p, b := range parts {
					for _, side := range []bool{true, false} {
						arg, err := EncodeTransformArg(foldViewTransform.Name, &foldViewArg{Seed: seed, I: i, K: c.k, Test: side})
						if err != nil {
							t.Fatal(err)
						}
						if arr, view, err := TransformView(foldViewTransform.Name, arg); err != nil || !view || arr == "" {
							t.Fatalf("TransformView: %q, %v, %v", arr, view, err)
						}
						v, err := ApplyTransformEncoded(ctx, foldViewTransform.Name, Part{Index: p, Block: b}, arg)
						if err != nil {
							t.Fatal(err)
						}
						if !c.sparse && !c.f32 && !shares(v, parts) {
							t.Fatalf("%s: partition %d's view does not share its memory", what, p)
						}
						if side {
							test = append(test, v)
						} else {
							train = append(train, v)
						}
					}
				}
				wantTrain, wantTest, err := FoldCopy(ctx, e, ref, i, c.k, seed)
				if err != nil {
					t.Fatal(err)
				}
				gy, gw := labelled(t, what+" test view", test)
				wy, ww := labelled(t, what+" test copy", blocksOf(t, e, wantTest))
				if !slices.Equal(gy, wy) || !slices.Equal(gw, ww) {
					t.Fatalf("%s: the test view's %d rows are not the copy's %d, in order", what, len(gy), len(wy))
				}
				if !c.f32 {
					sameRows(t, what+" test view", test, blocksOf(t, e, wantTest))
				}
				gy, gw = labelled(t, what+" training view", train)
				wy, _ = labelled(t, what+" training copy", blocksOf(t, e, wantTrain))
				if !slices.Equal(sorted(gy), sorted(wy)) {
					t.Fatalf("%s: the training view's %d rows are not the copy's %d", what, len(gy), len(wy))
				}
				ey, ew := labelled(t, what+" engine's training view", blocksOf(t, e, engTrain[i]))
				if !slices.Equal(gy, ey) || !slices.Equal(gw, ew) {
					t.Fatalf("%s: the training view's rows are not in the engine's fold-by-fold order", what)
				}
				e.Drop(wantTrain)
				e.Drop(wantTest)
			}
			// A copying selection of the rearranged partitions selects what
			// it selects of the original ones.
			a := &SplitArg{Seed: 5, Lo: 0, Hi: 0.4}
			want, err := Select(ctx, e, ref, "sel", *a)
			if err != nil {
				t.Fatal(err)
			}
			arg, err := EncodeTransformArg(splitTransform.Name, a)
			if err != nil {
				t.Fatal(err)
			}
			var got []*Block
			for p, b := range parts {
				s, err := ApplyTransformEncoded(ctx, splitTransform.Name, Part{Index: p, Block: b}, arg)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, s)
			}
			gy, _ := labelled(t, "selection", got)
			wy, _ := labelled(t, "selection", blocksOf(t, e, want))
			if !slices.Equal(gy, wy) {
				t.Fatal("a copying selection of the rearranged partitions differs")
			}
		})
	}
}

// The Engine makes its fold views with Folds; the view transform is not
// for it, and Fold takes fold i of Folds' views there.
func TestFoldOnEngine(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromBlocks(ctx, "ds", testBlocks(3, 100, 4, false, false, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Derive(ctx, e, ds, "v", foldViewTransform, &foldViewArg{Seed: 1, I: 0, K: 3}); err == nil {
		t.Fatal("the Engine derived a fold view with the transform")
	}
	if !FoldIsView(e, ds) {
		t.Fatal("FoldIsView: the Engine's folds are views")
	}
	before := e.Cached()
	train, test, release, err := Fold(ctx, e, ds, 1, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	if e.Cached() != before || train.Rows()+test.Rows() != ds.Rows() {
		t.Fatalf("fold 1: %d+%d rows of %d, %d bytes added", train.Rows(), test.Rows(), ds.Rows(), e.Cached()-before)
	}
	release()
	if _, _, _, err := Fold(ctx, e, ds, 3, 3, 7); err == nil {
		t.Fatal("fold 3 of 3 made")
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
