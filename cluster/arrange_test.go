package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// testBlocks builds parts blocks of about rows rows each: dense (with
// weights when weighted) or sparse, with distinct values so any misplaced
// row shows.
func testBlocks(parts, rows, cols int, sparse, weighted bool, seed uint64) []*Block {
	r := rand.New(rand.NewPCG(seed, 3))
	out := make([]*Block, parts)
	for p := range out {
		n := rows + r.IntN(5) - 2
		if p == 1 {
			n = 0 // an empty partition
		}
		var bb *Builder
		if sparse {
			bb = NewSparseBuilder(cols)
		} else {
			bb = NewDenseBuilder(cols, n)
		}
		for i := 0; i < n; i++ {
			y, w := float64(p*100000+i), 1.0
			if weighted {
				w = 1 + float64(i%7)
			}
			var err error
			if sparse {
				var ind []int32
				var val []float64
				for j := 0; j < cols; j++ {
					if r.IntN(3) == 0 {
						ind, val = append(ind, int32(j)), append(val, y+float64(j)/100)
					}
				}
				err = bb.AddSparse(ind, val, y, w)
			} else {
				x := make([]float64, cols)
				for j := range x {
					x[j] = y + float64(j)/100
				}
				err = bb.AddDense(x, y, w)
			}
			if err != nil {
				panic(err)
			}
		}
		out[p] = bb.Block()
	}
	return out
}

func cloneBlocks(bs []*Block) []*Block {
	out := make([]*Block, len(bs))
	for i, b := range bs {
		c := *b
		c.X, c.X32, c.Y, c.W = slices.Clone(b.X), slices.Clone(b.X32), slices.Clone(b.Y), slices.Clone(b.W)
		c.Ptr, c.Ind, c.Val = slices.Clone(b.Ptr), slices.Clone(b.Ind), slices.Clone(b.Val)
		out[i] = &c
	}
	return out
}

// blocksOf returns a dataset's cached blocks.
func blocksOf(t *testing.T, e *Engine, ds *Dataset) []*Block {
	t.Helper()
	out := make([]*Block, ds.NumPartitions())
	for i := range out {
		b, err := e.Block(ds, i)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func sameRows(t *testing.T, what string, got, want []*Block) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d partitions, want %d", what, len(got), len(want))
	}
	for p := range got {
		g, w := got[p], want[p]
		if g.Rows != w.Rows || g.Sparse() != w.Sparse() ||
			!slices.Equal(g.X, w.X) || !slices.Equal(g.Y, w.Y) || !slices.Equal(g.Ind, w.Ind) || !slices.Equal(g.Val, w.Val) {
			t.Fatalf("%s: partition %d differs from the copying split's (%d rows, want %d)", what, p, g.Rows, w.Rows)
		}
		for i := 0; i < g.Rows; i++ {
			if g.Weight(i) != w.Weight(i) {
				t.Fatalf("%s: partition %d row %d has weight %v, want %v", what, p, i, g.Weight(i), w.Weight(i))
			}
			if g.Sparse() {
				gi, gv := g.SparseRow(i)
				wi, wv := w.SparseRow(i)
				if !slices.Equal(gi, wi) || !slices.Equal(gv, wv) {
					t.Fatalf("%s: partition %d sparse row %d differs", what, p, i)
				}
			}
		}
	}
}

// TestSplitConsumingMatchesRandomSplit checks that the views of a
// consuming split hold the rows, in the order, of the copying split, that
// they share the parent's memory, and that the parent is dropped.
func TestSplitConsumingMatchesRandomSplit(t *testing.T) {
	for _, c := range []struct {
		sparse, weighted bool
		frac             float64
	}{
		{false, false, 0.85}, {false, true, 0.85}, {false, false, 0.15}, {false, true, 0.5},
		{true, false, 0.85}, {true, true, 0.3},
	} {
		t.Run(fmt.Sprintf("sparse=%v/weighted=%v/frac=%v", c.sparse, c.weighted, c.frac), func(t *testing.T) {
			ctx := context.Background()
			e := newEngine(t, 3)
			src := testBlocks(5, 200, 6, c.sparse, c.weighted, 9)
			ref, err := e.FromBlocks(ctx, "ref", cloneBlocks(src))
			if err != nil {
				t.Fatal(err)
			}
			wantA, wantB, err := RandomSplit(ctx, e, ref, c.frac, 77)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := e.FromBlocks(ctx, "ds", src)
			if err != nil {
				t.Fatal(err)
			}
			a, b, err := SplitConsuming(ctx, e, ds, c.frac, 77)
			if err != nil {
				t.Fatal(err)
			}
			sameRows(t, "first side", blocksOf(t, e, a), blocksOf(t, e, wantA))
			sameRows(t, "second side", blocksOf(t, e, b), blocksOf(t, e, wantB))
			if _, err := e.Block(ds, 0); err == nil {
				t.Fatal("the consumed dataset is still cached")
			}
			if a.Bytes()+b.Bytes() > ds.Bytes()+int64(8*(len(src)+1)*len(src)*200) {
				t.Fatalf("the sides hold %d + %d bytes for a parent of %d: not views", a.Bytes(), b.Bytes(), ds.Bytes())
			}
			if !c.sparse {
				for p, blk := range blocksOf(t, e, a) {
					if blk.Rows > 0 && &blk.X[0] != &src[p].X[0] {
						t.Fatalf("partition %d of the first side does not share the parent's memory", p)
					}
				}
			}
		})
	}
}

// TestSplitConsumingOnce checks that a rearranged partition refuses a
// split by another range, consuming or copying, with an error that says
// why.
func TestSplitConsumingOnce(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromBlocks(ctx, "ds", testBlocks(2, 50, 3, false, false, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Select(ctx, e, ds, "a", SplitArg{Seed: 1, Lo: 0, Hi: 0.5, Consume: true}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []SplitArg{
		{Seed: 1, Lo: 0.5, Hi: 1, Consume: true},
		{Seed: 2, Lo: 0, Hi: 0.5, Consume: true},
		{Seed: 1, Lo: 0, Hi: 0.5},
	} {
		_, err := Select(ctx, e, ds, "b", a)
		if err == nil {
			t.Fatalf("split %+v of a rearranged dataset succeeded", a)
		}
		if want := "cannot be split again"; !strings.Contains(err.Error(), want) {
			t.Fatalf("split %+v: error %q does not say %q", a, err, want)
		}
	}
}

// BenchmarkSplit compares the copying split with the consuming one on a
// Fashion-MNIST-sized dense dataset (60 000 × 784, 4 partitions), 85/15.
//
//	go test ./cluster -run '^$' -bench Split -benchtime 5x
func BenchmarkSplit(b *testing.B) {
	const rows, cols, parts = 60000, 784, 4
	ctx := context.Background()
	for _, consume := range []bool{false, true} {
		b.Run(fmt.Sprintf("consume=%v", consume), func(b *testing.B) {
			e := NewEngine(Config{Workers: 2})
			defer e.Close()
			x := make([]float64, rows*cols)
			for i := range x {
				x[i] = float64(i % 255)
			}
			y := make([]float64, rows)
			b.SetBytes(int64(8 * rows * cols))
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				ds, err := e.FromDense(ctx, "d", x, rows, cols, y, nil, parts)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				var a, c *Dataset
				if consume {
					a, c, err = SplitConsuming(ctx, e, ds, 0.85, 1)
				} else {
					a, c, err = RandomSplit(ctx, e, ds, 0.85, 1)
					e.Drop(ds)
				}
				if err != nil {
					b.Fatal(err)
				}
				e.Drop(a)
				e.Drop(c)
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
