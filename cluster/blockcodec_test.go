package cluster

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestBlockCodecRoundTrip(t *testing.T) {
	nan := math.Float64frombits(0x7ff8000000000001) // a NaN payload must survive
	cases := []struct {
		name string
		b    *Block
	}{
		{"empty", &Block{}},
		{"dense", &Block{Rows: 2, Cols: 3, X: []float64{1, 2, 3, 4, nan, math.Inf(-1)}, Y: []float64{0, 1}, Skipped: 7}},
		{"dense weighted", &Block{Rows: 1, Cols: 2, X: []float64{math.Copysign(0, -1), 5e-324}, Y: []float64{2}, W: []float64{0.5}}},
		{"sparse", &Block{Rows: 3, Cols: 10, Ptr: []int{0, 2, 2, 3}, Ind: []int32{1, 9, 0}, Val: []float64{1.5, -2, 3}, Y: []float64{1, 2, 3}}},
		{"float32", &Block{Rows: 2, Cols: 2, X32: []float32{1.5, float32(math.Inf(1)), math.Float32frombits(0x7fc00001), -0}, Y: []float64{0, 1}, Skipped: 1}},
		{"float32 weighted", &Block{Rows: 1, Cols: 3, X32: []float32{1e-45, 3, 4}, Y: []float64{2}, W: []float64{0.25}}},
		{"float32 empty", &Block{Cols: 5, X32: []float32{}, Y: []float64{}}},
		{"sparse weighted", &Block{Rows: 1, Cols: 4, Ptr: []int{0, 1}, Ind: []int32{3}, Val: []float64{4}, Y: []float64{1}, W: []float64{2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeBlock(EncodeBlock(nil, c.b))
			if err != nil {
				t.Fatal(err)
			}
			if !sameBlockBits(got, c.b) {
				t.Fatalf("round trip changed the block:\n got %+v\nwant %+v", got, c.b)
			}
		})
	}
}

func sameBlockBits(a, b *Block) bool {
	bits := func(xs []float64) []uint64 {
		if len(xs) == 0 {
			return nil
		}
		out := make([]uint64, len(xs))
		for i, x := range xs {
			out[i] = math.Float64bits(x)
		}
		return out
	}
	bits32 := func(xs []float32) []uint32 {
		out := make([]uint32, len(xs))
		for i, x := range xs {
			out[i] = math.Float32bits(x)
		}
		return out
	}
	return a.Rows == b.Rows && a.Cols == b.Cols && a.Skipped == b.Skipped &&
		a.Float32() == b.Float32() && reflect.DeepEqual(bits32(a.X32), bits32(b.X32)) &&
		reflect.DeepEqual(bits(a.X), bits(b.X)) && reflect.DeepEqual(bits(a.Val), bits(b.Val)) &&
		reflect.DeepEqual(bits(a.Y), bits(b.Y)) && reflect.DeepEqual(bits(a.W), bits(b.W)) &&
		len(a.Ptr) == len(b.Ptr) && (len(a.Ptr) == 0 || reflect.DeepEqual(a.Ptr, b.Ptr)) &&
		len(a.Ind) == len(b.Ind) && (len(a.Ind) == 0 || reflect.DeepEqual(a.Ind, b.Ind))
}

func TestDecodeBlockRejects(t *testing.T) {
	good := EncodeBlock(nil, &Block{Rows: 2, Cols: 3, Ptr: []int{0, 1, 2}, Ind: []int32{0, 2}, Val: []float64{1, 2}, Y: []float64{1, 2}})
	mutate := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"short", "bad magic or too short", good[:10]},
		{"magic", "bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"version", "version 9", mutate(func(b []byte) []byte { b[4] = 9; return b })},
		{"flags", "unknown flags", mutate(func(b []byte) []byte { b[5] |= 0x80; return b })},
		{"truncated", "bytes of data", good[:len(good)-1]},
		{"trailing", "bytes of data", append(append([]byte(nil), good...), 0)},
		{"column out of range", "column 7", mutate(func(b []byte) []byte { b[blockHeader+3*8+4] = 7; return b })},
		{"sparse float32", "both sparse and float32", mutate(func(b []byte) []byte { b[5] |= blockFloat32; return b })},
		{"huge rows", "implausible", mutate(func(b []byte) []byte { b[6+7] = 0x7f; return b })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeBlock(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func FuzzDecodeBlock(f *testing.F) {
	f.Add(EncodeBlock(nil, &Block{Rows: 2, Cols: 3, X: []float64{1, 2, 3, 4, 5, 6}, Y: []float64{0, 1}}))
	f.Add(EncodeBlock(nil, &Block{Rows: 2, Cols: 2, X32: []float32{1, 2, 3, 4}, Y: []float64{0, 1}, W: []float64{1, 2}}))
	f.Add(EncodeBlock(nil, &Block{Rows: 2, Cols: 3, Ptr: []int{0, 1, 2}, Ind: []int32{0, 2}, Val: []float64{1, 2}, Y: []float64{1, 2}, W: []float64{1, 1}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBlock(data)
		if err != nil {
			return
		}
		again, err := DecodeBlock(EncodeBlock(nil, b))
		if err != nil || !sameBlockBits(again, b) {
			t.Fatalf("a decoded block does not round-trip: %v", err)
		}
	})
}
