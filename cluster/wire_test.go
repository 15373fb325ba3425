package cluster

import (
	"context"
	"math"
	"strings"
	"testing"
)

// TestWireRoundTripEqualsEngine runs a task the way a remote executor does —
// broadcast encoded, each partition's partial encoded and decoded, combined by
// Aggregate through a handle from NewDatasetHandle — and checks the result is
// bit-identical to the engine's.
func TestWireRoundTripEqualsEngine(t *testing.T) {
	const rows, cols, parts = 3000, 7, 5
	x, y := randomDense(rows, cols, 3)
	w := make([]float64, cols)
	for j := range w {
		w[j] = float64(j) - 3.5
	}
	e := newEngine(t, 2)
	ctx := context.Background()
	ds, err := e.FromDense(ctx, "rand", x, rows, cols, y, nil, parts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Aggregate(ctx, e, ds, dotTask, &dotB{W: w})
	if err != nil {
		t.Fatal(err)
	}

	wire, err := EncodeBroadcast(dotTask.Name, &dotB{W: w})
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeBroadcast(dotTask.Name, wire)
	if err != nil {
		t.Fatal(err)
	}
	handle := NewDatasetHandle("remote", cols, false, ds.Stats())
	if handle.NumPartitions() != parts || handle.Rows() != rows || handle.Cols() != cols || handle.Name() != "remote" {
		t.Fatalf("handle: %d partitions, %d rows, %d cols, name %q", handle.NumPartitions(), handle.Rows(), handle.Cols(), handle.Name())
	}
	x2 := executorFunc(func(ctx context.Context, d *Dataset, task string, _ any) ([]any, error) {
		out := make([]any, d.NumPartitions())
		for i := range out {
			blk, err := e.Block(ds, i)
			if err != nil {
				return nil, err
			}
			data, err := RunTaskEncoded(ctx, task, Part{Index: i, Block: blk}, b)
			if err != nil {
				return nil, err
			}
			if out[i], err = DecodePartial(task, data); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
	got, err := Aggregate(ctx, x2, handle, dotTask, &dotB{W: w})
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(got.Sum) != math.Float64bits(want.Sum) || got.Rows != want.Rows {
		t.Fatalf("wire sum %v rows %d, engine %v rows %d", got.Sum, got.Rows, want.Sum, want.Rows)
	}
	for j := range got.Vec {
		if math.Float64bits(got.Vec[j]) != math.Float64bits(want.Vec[j]) {
			t.Fatalf("vec[%d]: wire %v, engine %v", j, got.Vec[j], want.Vec[j])
		}
	}
}

type executorFunc func(ctx context.Context, ds *Dataset, task string, b any) ([]any, error)

func (f executorFunc) MapPartitions(ctx context.Context, ds *Dataset, task string, b any) ([]any, error) {
	return f(ctx, ds, task, b)
}

func TestWireUnknownTaskAndBadData(t *testing.T) {
	if _, err := EncodeBroadcast("no.such.task", 1); err == nil || !strings.Contains(err.Error(), "no.such.task") {
		t.Fatalf("EncodeBroadcast of an unknown task: %v", err)
	}
	if _, err := DecodePartial(dotTask.Name, []byte("not gob")); err == nil || !strings.Contains(err.Error(), dotTask.Name) {
		t.Fatalf("DecodePartial of garbage: %v", err)
	}
	if _, err := DecodeBroadcast(dotTask.Name, nil); err == nil {
		t.Fatal("DecodeBroadcast of nothing: no error")
	}
	if _, err := RunTaskEncoded(context.Background(), dotTask.Name, Part{}, 42); err == nil {
		t.Fatal("RunTaskEncoded with a broadcast of the wrong type: no error")
	}
}

func TestWireScanRoundTripEqualsEngine(t *testing.T) {
	path := writeFile(t, "s.csv", "1.5,1\n2.25,0\n-4,1\n8.125,1\n")
	sources, err := PlanFiles([]string{path}, FileOptions{Format: Format{Kind: "csv"}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, 2)
	ctx := context.Background()
	want, err := Scan(ctx, e, nil, sources, sumScan, &struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	arg, err := EncodeScanArg(sumScan.Name, &struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	x := scannerFunc(func(ctx context.Context, l LogReader, srcs []Source, task string, _ any) ([]any, error) {
		out := make([]any, len(srcs))
		for i, s := range srcs {
			data, err := ScanEncoded(ctx, task, l, s, arg)
			if err != nil {
				return nil, err
			}
			if out[i], err = DecodeScanPartial(task, data); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
	got, err := Scan(ctx, x, nil, sources, sumScan, &struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if *got != *want || got.N != 4 {
		t.Fatalf("wire scan %+v, engine %+v", *got, *want)
	}
	if _, err := EncodeScanArg("no.such.scan", nil); err == nil || !strings.Contains(err.Error(), "no.such.scan") {
		t.Fatalf("unknown scan: %v", err)
	}
	if _, err := ScanEncoded(ctx, sumScan.Name, nil, sources[0], []byte("junk")); err == nil {
		t.Fatal("ScanEncoded with a bad argument: no error")
	}
	if _, err := DecodeScanPartial(sumScan.Name, []byte("junk")); err == nil {
		t.Fatal("DecodeScanPartial of garbage: no error")
	}
}

type scannerFunc func(ctx context.Context, l LogReader, sources []Source, task string, b any) ([]any, error)

func (f scannerFunc) ScanSources(ctx context.Context, l LogReader, sources []Source, task string, b any) ([]any, error) {
	return f(ctx, l, sources, task, b)
}

func TestWireTransformEqualsEngine(t *testing.T) {
	const rows, cols = 500, 3
	x, y := randomDense(rows, cols, 9)
	e := newEngine(t, 2)
	ctx := context.Background()
	ds, err := e.FromDense(ctx, "rand", x, rows, cols, y, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	a := SplitArg{Seed: 5, Lo: 0, Hi: 0.4}
	want, err := Select(ctx, e, ds, "sel", a)
	if err != nil {
		t.Fatal(err)
	}
	arg, err := EncodeTransformArg(splitTransform.Name, &a)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < ds.NumPartitions(); i++ {
		parent, err := e.Block(ds, i)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ApplyTransformEncoded(ctx, splitTransform.Name, Part{Index: i, Block: parent}, arg)
		if err != nil {
			t.Fatal(err)
		}
		wb, err := e.Block(want, i)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rows != wb.Rows || len(got.X) != len(wb.X) {
			t.Fatalf("partition %d: %d rows, engine %d", i, got.Rows, wb.Rows)
		}
		for k := range got.X {
			if math.Float64bits(got.X[k]) != math.Float64bits(wb.X[k]) {
				t.Fatalf("partition %d: value %d differs", i, k)
			}
		}
	}
	if _, err := EncodeTransformArg("no.such.transform", &a); err == nil || !strings.Contains(err.Error(), "no.such.transform") {
		t.Fatalf("unknown transform: %v", err)
	}
	if _, err := ApplyTransformEncoded(ctx, splitTransform.Name, Part{}, []byte("junk")); err == nil {
		t.Fatal("ApplyTransformEncoded with a bad argument: no error")
	}
}
