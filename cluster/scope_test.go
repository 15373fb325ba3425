package cluster

import (
	"context"
	"testing"
)

// A scope drops on Close what was cached through it — loads, blocks and
// derived datasets such as a random split's halves — and nothing else.
func TestScopeDropsWhatItCreated(t *testing.T) {
	ctx := context.Background()
	e := NewEngine(Config{Workers: 2})
	defer e.Close()
	outside, err := e.FromDense(ctx, "outside", []float64{1, 2, 3, 4, 5, 6}, 3, 2, []float64{0, 1, 0}, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	base := e.Cached()
	s := NewScope(e)
	x := make([]float64, 200)
	blocks := []*Block{{Rows: 50, Cols: 2, X: x[:100], Y: make([]float64, 50)}, {Rows: 50, Cols: 2, X: x[100:], Y: make([]float64, 50)}}
	ds, err := s.FromBlocks(ctx, "mine", blocks)
	if err != nil {
		t.Fatal(err)
	}
	a, b, err := RandomSplit(ctx, s, ds, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := RandomSplit(ctx, s, outside, 0.5, 2); err != nil {
		t.Fatal(err)
	}
	s.Drop(a)
	if s.Live() != 4 || e.Cached() <= base {
		t.Fatalf("%d datasets live, %d bytes cached (base %d): want 4 and more than the base", s.Live(), e.Cached(), base)
	}
	s.Close()
	if s.Live() != 0 || e.Cached() != base {
		t.Fatalf("after Close: %d datasets live, %d bytes cached, want 0 and %d", s.Live(), e.Cached(), base)
	}
	if _, err := e.Block(outside, 0); err != nil {
		t.Fatalf("Close dropped a dataset the scope did not create: %v", err)
	}
	if _, err := e.Block(b, 0); err == nil {
		t.Fatal("a split half is still cached after Close")
	}
	if _, err := s.FromBlocks(ctx, "late", []*Block{{Rows: 1, Cols: 1, X: []float64{1}, Y: []float64{0}}}); err == nil || e.Cached() != base {
		t.Fatalf("a load after Close gave %v with %d bytes cached; want an error and %d", err, e.Cached(), base)
	}
	s.Close() // idempotent
}
