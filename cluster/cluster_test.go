package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dotTask sums w·x·y over rows: enough arithmetic for float order to matter.
type dotB struct{ W []float64 }
type dotP struct {
	Sum  float64
	Vec  []float64
	Rows int
}

var dotTask = Register(&Task[dotB, dotP]{
	Name: "cluster_test.dot",
	New:  func(b *dotB) *dotP { return &dotP{Vec: make([]float64, len(b.W))} },
	Map: func(_ context.Context, p Part, b *dotB, acc *dotP) error {
		blk := p.Block
		for i := 0; i < blk.Rows; i++ {
			row := blk.Row(i)
			m := 0.0
			for j, v := range row {
				m += v * b.W[j]
			}
			acc.Sum += m * blk.Y[i] * blk.Weight(i)
			for j, v := range row {
				acc.Vec[j] += m * v
			}
		}
		acc.Rows += blk.Rows
		return nil
	},
	Combine: func(dst, src *dotP) {
		dst.Sum += src.Sum
		dst.Rows += src.Rows
		for j := range dst.Vec {
			dst.Vec[j] += src.Vec[j]
		}
	},
})

var panicTask = Register(&Task[int, int]{
	Name: "cluster_test.panic",
	New:  func(*int) *int { return new(int) },
	Map: func(_ context.Context, p Part, b *int, _ *int) error {
		if p.Index == *b {
			panic("boom")
		}
		return nil
	},
	Combine: func(dst, src *int) {},
})

var slowTask = Register(&Task[int, int]{
	Name: "cluster_test.slow",
	New:  func(*int) *int { return new(int) },
	Map: func(ctx context.Context, _ Part, _ *int, _ *int) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Minute):
			return nil
		}
	},
	Combine: func(dst, src *int) {},
})

func randomDense(rows, cols int, seed uint64) (x, y []float64) {
	r := rand.New(rand.NewPCG(seed, 1))
	x = make([]float64, rows*cols)
	for i := range x {
		x[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(6)-3)) // magnitudes that make summation order visible
	}
	y = make([]float64, rows)
	for i := range y {
		y[i] = float64(r.IntN(2))
	}
	return x, y
}

func newEngine(t testing.TB, workers int) *Engine {
	e := NewEngine(Config{Workers: workers})
	t.Cleanup(func() { e.Close() })
	return e
}

func TestAggregateBitIdenticalForAnyWorkerCount(t *testing.T) {
	const rows, cols, parts = 5000, 13, 11
	x, y := randomDense(rows, cols, 1)
	w := make([]float64, cols)
	for j := range w {
		w[j] = float64(j) - 6.5
	}
	var ref *dotP
	for _, workers := range []int{1, 2, 3, 8} {
		e := newEngine(t, workers)
		ds, err := e.FromDense(context.Background(), "rand", x, rows, cols, y, nil, parts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Aggregate(context.Background(), e, ds, dotTask, &dotB{W: w})
		if err != nil {
			t.Fatal(err)
		}
		if got.Rows != rows {
			t.Fatalf("%d workers: aggregated %d rows, want %d", workers, got.Rows, rows)
		}
		if ref == nil {
			ref = got
			continue
		}
		if math.Float64bits(got.Sum) != math.Float64bits(ref.Sum) {
			t.Fatalf("%d workers: sum %v differs from 1 worker's %v", workers, got.Sum, ref.Sum)
		}
		for j := range got.Vec {
			if math.Float64bits(got.Vec[j]) != math.Float64bits(ref.Vec[j]) {
				t.Fatalf("%d workers: vec[%d] %v differs from 1 worker's %v", workers, j, got.Vec[j], ref.Vec[j])
			}
		}
	}
}

func TestTreeCombineOrder(t *testing.T) {
	// Strings make the order of operands visible.
	for n := 1; n <= 9; n++ {
		ps := make([]*string, n)
		for i := range ps {
			s := fmt.Sprint(i)
			ps[i] = &s
		}
		treeCombine(ps, func(dst, src *string) { *dst = "(" + *dst + "+" + *src + ")" })
		if n == 5 && *ps[0] != "(((0+1)+(2+3))+4)" {
			t.Fatalf("tree over 5 partitions = %s", *ps[0])
		}
		if strings.Count(*ps[0], "+") != n-1 {
			t.Fatalf("tree over %d partitions combined %d times: %s", n, strings.Count(*ps[0], "+"), *ps[0])
		}
	}
}

func TestTaskPanicNamesTaskAndPartition(t *testing.T) {
	e := newEngine(t, 2)
	x, y := randomDense(100, 3, 2)
	ds, err := e.FromDense(context.Background(), "p", x, 100, 3, y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	bad := 2
	_, err = Aggregate(context.Background(), e, ds, panicTask, &bad)
	if err == nil || !strings.Contains(err.Error(), "cluster_test.panic") || !strings.Contains(err.Error(), "partition 2") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic became %v; want an error naming the task, partition 2 and the panic value", err)
	}
	// The engine still works afterwards.
	if _, err := Aggregate(context.Background(), e, ds, dotTask, &dotB{W: make([]float64, 3)}); err != nil {
		t.Fatalf("engine unusable after a task panic: %v", err)
	}
}

func TestCancelStopsTasks(t *testing.T) {
	e := newEngine(t, 2)
	x, y := randomDense(10, 2, 3)
	ds, err := e.FromDense(context.Background(), "c", x, 10, 2, y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	zero := 0
	done := make(chan error, 1)
	go func() { _, err := Aggregate(ctx, e, ds, slowTask, &zero); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled aggregate = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cancellation did not stop the task")
	}
}

func TestMemoryLimit(t *testing.T) {
	e := NewEngine(Config{Workers: 2, MemoryLimit: 100 * 10 * 8})
	defer e.Close()
	x, y := randomDense(200, 10, 4)
	_, err := e.FromDense(context.Background(), "big", x, 200, 10, y, nil, 4)
	var ml *ErrMemoryLimit
	if !errors.As(err, &ml) || ml.Dataset != "big" || ml.Limit != 8000 {
		t.Fatalf("load over the memory limit = %v, want *ErrMemoryLimit for dataset big", err)
	}
	if e.Cached() != 0 {
		t.Fatalf("a failed load left %d bytes accounted", e.Cached())
	}
	ds, err := e.FromDense(context.Background(), "small", x[:50*10], 50, 10, y[:50], nil, 2)
	if err != nil {
		t.Fatalf("load under the limit: %v", err)
	}
	if e.Cached() != ds.Bytes() || ds.Bytes() < 50*11*8 {
		t.Fatalf("engine reports %d cached bytes, dataset %d", e.Cached(), ds.Bytes())
	}
	e.Drop(ds)
	if e.Cached() != 0 {
		t.Fatalf("after Drop, %d bytes still cached", e.Cached())
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func allRows(t *testing.T, e *Engine, ds *Dataset) (x, y []float64) {
	t.Helper()
	for i := 0; i < ds.NumPartitions(); i++ {
		b, err := e.Block(ds, i)
		if err != nil {
			t.Fatal(err)
		}
		x = append(x, b.X...)
		y = append(y, b.Y...)
	}
	return x, y
}

func TestLoadFilesSplitsByLines(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("label,a,b,c\n")
	const n = 997
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "%d,%d.5,%d,-%d\n", i%3, i, i*i, i)
	}
	p := writeFile(t, "data.csv", sb.String())
	e := newEngine(t, 3)
	var refX, refY []float64
	for _, parts := range []int{1, 2, 3, 7, 50} {
		ds, err := e.LoadFiles(context.Background(), []string{p}, FileOptions{Format: Format{Header: true}, Partitions: parts})
		if err != nil {
			t.Fatal(err)
		}
		if ds.NumPartitions() != parts || ds.Rows() != n || ds.Cols() != 3 {
			t.Fatalf("%d partitions: got %d partitions, %d rows, %d cols", parts, ds.NumPartitions(), ds.Rows(), ds.Cols())
		}
		x, y := allRows(t, e, ds)
		if refX == nil {
			refX, refY = x, y
			if x[3*500] != 500.5 || y[500] != 500%3 {
				t.Fatalf("row 500 decoded as %v label %v", x[1500:1503], y[500])
			}
			continue
		}
		for i := range x {
			if x[i] != refX[i] {
				t.Fatalf("%d partitions: value %d = %v, want %v (lines lost or doubled at a split)", parts, i, x[i], refX[i])
			}
		}
		for i := range y {
			if y[i] != refY[i] {
				t.Fatalf("%d partitions: label %d differs", parts, i)
			}
		}
		e.Drop(ds)
	}
}

func TestDecodeErrorsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, content string
		format        Format
		want          []string
	}{
		{"bad.csv", "1,2,3\n0,4,5\n1,x,6\n", Format{}, []string{"bad.csv:3", "column 2", `"x"`}},
		{"ragged.csv", "1,2,3\n0,4\n", Format{}, []string{"ragged.csv:2", "1 features, want 2"}},
		{"bad.libsvm", "1 1:0.5 3:1\n0 2:1 2:3\n", Format{Kind: "libsvm"}, []string{"bad.libsvm:2", "indices must increase"}},
		{"bad.jsonl", `{"label": 1, "features": [1, 2]}` + "\n" + `{"label": "one", "features": [1, 2]}` + "\n", Format{Kind: "jsonl"}, []string{"bad.jsonl:2", `field "label"`}},
		{"nolabel.jsonl", `{"features": [1, 2]}` + "\n", Format{Kind: "jsonl"}, []string{"nolabel.jsonl:1", `"label" is missing`}},
	}
	e := newEngine(t, 2)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, c.name, c.content)
			_, err := e.LoadFiles(context.Background(), []string{p}, FileOptions{Format: c.format, Partitions: 1})
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("LoadFiles = %v, want a *DecodeError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadSparseAndJSON(t *testing.T) {
	e := newEngine(t, 2)
	p := writeFile(t, "d.libsvm", "1 1:0.5 4:2\n0 2:1\n\n1 3:-1 10:7\n")
	ds, err := e.LoadFiles(context.Background(), []string{p}, FileOptions{Format: Format{Kind: "libsvm"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Sparse() || ds.Rows() != 3 || ds.Cols() != 10 {
		t.Fatalf("libsvm: sparse=%v rows=%d cols=%d, want sparse 3×10", ds.Sparse(), ds.Rows(), ds.Cols())
	}
	var nnz int
	for i := 0; i < ds.NumPartitions(); i++ {
		b, _ := e.Block(ds, i)
		if b.Cols != 10 {
			t.Fatalf("partition %d has %d cols, want the dataset's 10", i, b.Cols)
		}
		nnz += len(b.Val)
	}
	if nnz != 5 {
		t.Fatalf("%d non-zeros, want 5", nnz)
	}
	j := writeFile(t, "d.jsonl", `{"label": 2, "features": [1, 2, 3], "w": 0.5}`+"\n"+`{"label": 1, "features": [4, 5, 6], "w": 2}`+"\n")
	ds, err = e.LoadFiles(context.Background(), []string{j}, FileOptions{Format: Format{Kind: "jsonl", WeightField: "w"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Block(ds, 0)
	if b.Rows != 2 || b.X[4] != 5 || b.Y[0] != 2 || b.W[1] != 2 {
		t.Fatalf("jsonl decoded as %+v", b)
	}
}

func TestRandomSplit(t *testing.T) {
	const rows = 10000
	x, y := randomDense(rows, 2, 5)
	var ref []float64
	for _, workers := range []int{1, 4} {
		e := newEngine(t, workers)
		ds, err := e.FromDense(context.Background(), "s", x, rows, 2, y, nil, 6)
		if err != nil {
			t.Fatal(err)
		}
		a, b, err := RandomSplit(context.Background(), e, ds, 0.8, 42)
		if err != nil {
			t.Fatal(err)
		}
		if a.Rows()+b.Rows() != rows {
			t.Fatalf("split lost rows: %d + %d != %d", a.Rows(), b.Rows(), rows)
		}
		if f := float64(a.Rows()) / rows; f < 0.78 || f > 0.82 {
			t.Fatalf("0.8 split kept %.3f of the rows", f)
		}
		ax, _ := allRows(t, e, a)
		if ref == nil {
			ref = ax
		} else if len(ax) != len(ref) || ax[0] != ref[0] || ax[len(ax)-1] != ref[len(ref)-1] {
			t.Fatalf("split differs with %d workers", workers)
		}
	}
}

func TestClosedEngine(t *testing.T) {
	e := NewEngine(Config{Workers: 2})
	x, y := randomDense(10, 2, 6)
	ds, err := e.FromDense(context.Background(), "c", x, 10, 2, y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	if _, err := Aggregate(context.Background(), e, ds, dotTask, &dotB{W: make([]float64, 2)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Aggregate after Close = %v, want ErrClosed", err)
	}
}
