package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// to32 returns a float32 copy of dense blocks, built row by row through
// NewDense32Builder.
func to32(t *testing.T, bs []*Block) []*Block {
	t.Helper()
	out := make([]*Block, len(bs))
	for p, b := range bs {
		bb := NewDense32Builder(b.Cols, b.Rows)
		for i := 0; i < b.Rows; i++ {
			if err := bb.AddDense(b.Row(i), b.Y[i], b.Weight(i)); err != nil {
				t.Fatal(err)
			}
		}
		out[p] = bb.Block()
	}
	return out
}

// same32 checks that float32 blocks hold the float64 blocks' rows rounded
// to float32, with the same labels and weights.
func same32(t *testing.T, what string, got, want []*Block) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d partitions, want %d", what, len(got), len(want))
	}
	for p := range got {
		g, w := got[p], want[p]
		if g.Rows != w.Rows || g.Cols != w.Cols || !slices.Equal(g.Y, w.Y) {
			t.Fatalf("%s: partition %d is %d×%d, want %d×%d (or labels differ)", what, p, g.Rows, g.Cols, w.Rows, w.Cols)
		}
		if g.Rows > 0 && (!g.Float32() || g.X != nil) {
			t.Fatalf("%s: partition %d is not a float32 block", what, p)
		}
		row := make([]float64, g.Cols)
		for i := 0; i < g.Rows; i++ {
			for j, v := range g.DenseRow(i, row) {
				if v != float64(float32(w.X[i*w.Cols+j])) || g.Row32(i)[j] != float32(v) {
					t.Fatalf("%s: partition %d row %d col %d is %v, want %v rounded to float32", what, p, i, j, v, w.X[i*w.Cols+j])
				}
			}
			if g.Weight(i) != w.Weight(i) {
				t.Fatalf("%s: partition %d row %d has weight %v, want %v", what, p, i, g.Weight(i), w.Weight(i))
			}
		}
	}
}

func TestFloat32Block(t *testing.T) {
	b64 := testBlocks(1, 50, 7, false, true, 3)[0]
	b32 := to32(t, []*Block{b64})[0]
	same32(t, "built", []*Block{b32}, []*Block{b64})
	if err := b32.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := b32.Bytes(), int64(4*b64.Rows*b64.Cols+8*2*b64.Rows); got != want {
		t.Fatalf("Bytes = %d, want %d (4 bytes a value, 8 a label and a weight)", got, want)
	}
	s := b32.Slice(10, 20)
	same32(t, "slice", []*Block{s}, []*Block{b64.Slice(10, 20)})
	if &s.X32[0] != &b32.X32[10*b32.Cols] {
		t.Fatal("Slice copied the float32 values")
	}
	for _, c := range []struct {
		name, want string
		mut        func(b *Block)
	}{
		{"short", "dense float32 block", func(b *Block) { b.X32 = b.X32[:len(b.X32)-1] }},
		{"both", "beside float64", func(b *Block) { b.X = make([]float64, len(b.X32)) }},
		{"sparse", "beside float64 or sparse", func(b *Block) { b.Ptr = make([]int, b.Rows+1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := *b32
			c.mut(&b)
			if err := b.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestReadSourceFloat32 checks that Format.Float32 decodes a file into a
// float32 block holding the float64 decode's values rounded, and that
// the budget counts 4 bytes a value.
func TestReadSourceFloat32(t *testing.T) {
	var sb strings.Builder
	for i := range 40 {
		fmt.Fprintf(&sb, "%d,%v,%v,%v\n", i%2, 0.1*float64(i), math.Pi*float64(i), 1e-3/float64(i+1))
	}
	p := writeFile(t, "d.csv", sb.String())
	ctx := context.Background()
	src := Source{Kind: "file", Path: p, From: 0, To: int64(sb.Len())}
	b64, err := ReadSource(ctx, nil, src)
	if err != nil {
		t.Fatal(err)
	}
	src.Format.Float32 = true
	b32, err := ReadSource(ctx, nil, src)
	if err != nil {
		t.Fatal(err)
	}
	same32(t, "decoded", []*Block{b32}, []*Block{b64})
	if b32.Bytes() >= b64.Bytes() {
		t.Fatalf("the float32 block holds %d bytes, the float64 one %d", b32.Bytes(), b64.Bytes())
	}
	_, err = ReadSourceWithin(ctx, nil, src, 4*3*10+8*10)
	var over *ErrOverBudget
	if !errors.As(err, &over) || over.Rows != 11 {
		t.Fatalf("ReadSourceWithin = %v, want *ErrOverBudget after 11 rows", err)
	}
}

// TestSplitFloat32 checks that copying and consuming splits of float32
// blocks keep them float32, with the rows of the float64 blocks' splits.
func TestSplitFloat32(t *testing.T) {
	for _, weighted := range []bool{false, true} {
		t.Run(fmt.Sprintf("weighted=%v", weighted), func(t *testing.T) {
			ctx := context.Background()
			e := newEngine(t, 2)
			src := testBlocks(4, 120, 5, false, weighted, 5)
			ref, err := e.FromBlocks(ctx, "ref", cloneBlocks(src))
			if err != nil {
				t.Fatal(err)
			}
			wantA, wantB, err := RandomSplit(ctx, e, ref, 0.7, 11)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := e.FromBlocks(ctx, "ds32", to32(t, src))
			if err != nil {
				t.Fatal(err)
			}
			a, b, err := RandomSplit(ctx, e, ds, 0.7, 11)
			if err != nil {
				t.Fatal(err)
			}
			same32(t, "copying split, first side", blocksOf(t, e, a), blocksOf(t, e, wantA))
			same32(t, "copying split, second side", blocksOf(t, e, b), blocksOf(t, e, wantB))
			a, b, err = SplitConsuming(ctx, e, ds, 0.7, 11)
			if err != nil {
				t.Fatal(err)
			}
			same32(t, "consuming split, first side", blocksOf(t, e, a), blocksOf(t, e, wantA))
			same32(t, "consuming split, second side", blocksOf(t, e, b), blocksOf(t, e, wantB))
		})
	}
}

// TestFoldsFloat32 checks that fold views of float32 blocks stay float32
// and hold the rows the float64 blocks' copying folds hold: each test fold
// the same rows in the same order, each training fold the same labels.
func TestFoldsFloat32(t *testing.T) {
	for _, weighted := range []bool{false, true} {
		t.Run(fmt.Sprintf("weighted=%v", weighted), func(t *testing.T) {
			ctx := context.Background()
			e := newEngine(t, 2)
			src := testBlocks(4, 120, 5, false, weighted, 6)
			ref, err := e.FromBlocks(ctx, "ref", cloneBlocks(src))
			if err != nil {
				t.Fatal(err)
			}
			wantTrain, wantTest, err := copyFolds(ctx, e, ref, 4, 21)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := e.FromBlocks(ctx, "ds32", to32(t, src))
			if err != nil {
				t.Fatal(err)
			}
			train, test, err := Folds(ctx, e, ds, 4, 21)
			if err != nil {
				t.Fatal(err)
			}
			for i := range test {
				same32(t, fmt.Sprintf("fold %d test", i), blocksOf(t, e, test[i]), blocksOf(t, e, wantTest[i]))
				for _, b := range blocksOf(t, e, train[i]) {
					if b.Rows > 0 && !b.Float32() {
						t.Fatalf("fold %d: a training view is not float32", i)
					}
				}
				if got, want := labelsOf(t, e, train[i]), labelsOf(t, e, wantTrain[i]); !slices.Equal(got, want) {
					t.Fatalf("fold %d: training view has %d rows, the copy %d, or other ones", i, len(got), len(want))
				}
			}
		})
	}
}
