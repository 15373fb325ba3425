package mlp

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/flintml/flint/ml/internal/mltest"
)

func testModel() *Model {
	sizes := []int{4, 3, 3}
	m := &Model{Sizes: sizes, Activation: Sigmoid, Output: Softmax, Params: make([]float64, numParams(sizes))}
	for i := range m.Params {
		m.Params[i] = math.Sin(float64(i)) * 1.5
	}
	m.Params[2] = math.Copysign(0, -1) // the sign of zero survives too
	return m
}

func TestEncodingRoundTrip(t *testing.T) {
	for _, m := range []*Model{
		testModel(),
		{Sizes: []int{2, 1}, Activation: ReLU, Output: Identity, Params: []float64{1, -2, 0.5}},
	} {
		back := mltest.RoundTrip(t, m)
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip: got %+v, want %+v", *back, *m)
		}
		for i, p := range back.Params {
			if math.Float64bits(p) != math.Float64bits(m.Params[i]) {
				t.Fatalf("parameter %d: bits %x, want %x", i, math.Float64bits(p), math.Float64bits(m.Params[i]))
			}
		}
		x := []float64{0.3, -1, 2, 0.5}[:m.Inputs()]
		a, b := make([]float64, m.Outputs()), make([]float64, m.Outputs())
		if _, err := m.Predict(a, x); err != nil {
			t.Fatal(err)
		}
		if _, err := back.Predict(b, x); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("decoded model predicts %v, original %v", b, a)
		}
	}
}

// reseal recomputes the trailing checksum after a test edits the body.
func reseal(data []byte) []byte {
	body := data[:len(data)-4]
	return binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
}

func TestEncodingErrors(t *testing.T) {
	good, err := testModel().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"magic", edit(func(b []byte) []byte { b[0] = 'X'; return b }), `magic "XLNT"`},
		{"future version", edit(func(b []byte) []byte { b[4] = 2; return b }), "format version 2 is not supported (this build reads version 1)"},
		{"flipped bit", edit(func(b []byte) []byte { b[len(b)-20] ^= 1; return b }), "checksum"},
		{"truncated", good[:len(good)-9], "checksum"},
		{"other kind", edit(func(b []byte) []byte { copy(b[7:10], "svm"); return reseal(b) }), `model kind "svm"`},
		{"unknown activation", edit(func(b []byte) []byte { copy(b[11:18], "sigmoix"); return reseal(b) }), `unknown activation "sigmoix"`},
		{"extra parameter", func() []byte {
			b := append(append([]byte(nil), good[:len(good)-4]...), make([]byte, 8)...)
			return reseal(append(b, 0, 0, 0, 0))
		}(), "parameters declared"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m Model
			err := m.UnmarshalBinary(c.data)
			if !errors.Is(err, ErrEncoding) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrEncoding mentioning %q", err, c.want)
			}
			if m.Sizes != nil {
				t.Errorf("a failed decode changed the model: %+v", m)
			}
		})
	}

	// Every truncation fails cleanly.
	for n := 0; n < len(good); n++ {
		var m Model
		if err := m.UnmarshalBinary(good[:n]); !errors.Is(err, ErrEncoding) {
			t.Fatalf("first %d of %d bytes: error %v, want ErrEncoding", n, len(good), err)
		}
	}

	if _, err := (&Model{Sizes: []int{3, 2}, Activation: ReLU, Output: Softmax, Params: make([]float64, 5)}).MarshalBinary(); !errors.Is(err, ErrModel) {
		t.Errorf("marshalling a model with too few parameters: error %v, want ErrModel", err)
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	good, err := testModel().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add(good[:20])
	f.Add(append(append([]byte(nil), good...), 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Model
		if err := m.UnmarshalBinary(data); err != nil {
			return
		}
		// Whatever decodes is a valid model that predicts and encodes back
		// to the same bytes.
		x := make([]float64, m.Inputs())
		if err := m.PredictBatch(make([]float64, m.Outputs()), x, 1); err != nil {
			t.Fatalf("decoded model cannot predict: %v", err)
		}
		again, err := m.MarshalBinary()
		if err != nil || string(again) != string(data) {
			t.Fatalf("re-encoding a decoded model: %v; bytes equal %v", err, string(again) == string(data))
		}
	})
}
