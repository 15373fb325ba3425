package ml

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden encodings in testdata/")

// goldenModels are fixed models whose encodings are kept in testdata/, so a
// change of format cannot pass unnoticed: version 1 encodings must decode
// forever.
func goldenModels() map[string]Model {
	return map[string]Model{
		"linear_v1.hex": &LinearModel{Coef: []float64{1.5, -2, 0}, Intercept: 0.25},
		"logistic_binomial_v1.hex": &LogisticModel{Classes: 2, Coef: []float64{0.5, -1, 2}, Intercept: []float64{-0.75},
			Threshold: 0.5},
		"logistic_multinomial_v1.hex": &LogisticModel{Classes: 3, Multinomial: true,
			Coef: []float64{1, 0, -1, 0, 1, 0}, Intercept: []float64{0.1, -0.2, 0.1}, Threshold: 0.5},
		"linear_svc_v1.hex": &SVMModel{Coef: []float64{0.5, -1, 2}, Intercept: -0.75, Threshold: 0.25},
	}
}

func TestEncodingGolden(t *testing.T) {
	for name, m := range goldenModels() {
		t.Run(name, func(t *testing.T) {
			enc, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, []byte(hex.EncodeToString(enc)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestEncodingGolden -update to create it)", err)
			}
			golden, err := hex.DecodeString(strings.TrimSpace(string(text)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, golden) {
				t.Fatalf("encoding changed:\n got  %x\n want %x", enc, golden)
			}
			back, err := UnmarshalModel(golden)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := back.MarshalBinary()
			if !bytes.Equal(again, golden) {
				t.Fatalf("decode and re-encode: %x", again)
			}
		})
	}
}

// TestRoundTripPredictsTheSame: fitted models survive encoding bit for bit.
func TestRoundTripPredictsTheSame(t *testing.T) {
	e := newEngine(t, 2)
	ctx := context.Background()
	lin, _, _ := linearData(51, 500, 4, 0.3, false)
	bin := softmaxData(52, 500, 4, []float64{1, -1, 0.5, 0}, []float64{0.3}, 0, false)
	multi := softmaxData(53, 500, 2, []float64{1, 0, -1, 1, 0, -1}, []float64{0, 0, 0}, 0, false)
	lm, err := LinearRegression{}.Fit(ctx, e, lin.dense(t, e, 2))
	if err != nil {
		t.Fatal(err)
	}
	bm, err := LogisticRegression{Threshold: 0.3}.Fit(ctx, e, bin.dense(t, e, 2))
	if err != nil {
		t.Fatal(err)
	}
	mm, err := LogisticRegression{}.Fit(ctx, e, multi.dense(t, e, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m Model
		s synth
	}{{lm, lin}, {bm, bin}, {mm, multi}} {
		enc, err := c.m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		back, err := UnmarshalModel(enc)
		if err != nil {
			t.Fatal(err)
		}
		if back.Algorithm() != c.m.Algorithm() || back.NumFeatures() != c.m.NumFeatures() {
			t.Fatalf("%s came back as %s with %d features", c.m.Algorithm(), back.Algorithm(), back.NumFeatures())
		}
		want := make([]float64, c.s.rows)
		got := make([]float64, c.s.rows)
		c.m.PredictBatch(want, c.s.x, c.s.rows)
		back.PredictBatch(got, c.s.x, c.s.rows)
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("%s row %d: %v after decoding, %v before", c.m.Algorithm(), i, got[i], want[i])
			}
		}
		if cl, ok := c.m.(Classifier); ok {
			k := cl.NumClasses()
			pw, pg := make([]float64, k*c.s.rows), make([]float64, k*c.s.rows)
			cl.ProbaBatch(pw, c.s.x, c.s.rows)
			back.(Classifier).ProbaBatch(pg, c.s.x, c.s.rows)
			if maxAbsDiff(pw, pg) != 0 {
				t.Fatalf("%s probabilities changed by decoding", c.m.Algorithm())
			}
		}
	}
	// Row and batch predictions agree.
	for i := 0; i < 5; i++ {
		x := bin.x[i*4 : (i+1)*4]
		var one [1]float64
		bm.PredictBatch(one[:], x, 1)
		if bm.Predict(x) != one[0] {
			t.Fatalf("Predict and PredictBatch disagree on row %d", i)
		}
		lx := lin.x[i*4 : (i+1)*4]
		lm.PredictBatch(one[:], lx, 1)
		if d := math.Abs(lm.Predict(lx) - one[0]); d > 1e-12*math.Abs(one[0]) {
			t.Fatalf("linear Predict and PredictBatch differ by %g on row %d", d, i)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := (&LogisticModel{Classes: 2, Coef: []float64{1, 2}, Intercept: []float64{0}, Threshold: 0.5}).MarshalBinary()
	var ve *VersionError

	if _, err := UnmarshalModel([]byte("not a model")); !errors.Is(err, ErrNotModel) {
		t.Errorf("bad magic: %v", err)
	}
	newer := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(newer[4:], 2)
	if _, err := UnmarshalModel(newer); !errors.As(err, &ve) || ve.Got != 2 || ve.Want != 1 || !strings.Contains(err.Error(), "version 2 is unknown") {
		t.Errorf("envelope version 2: %v", err)
	}
	payloadV := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(payloadV[4+2+1+len("logistic"):], 9)
	if _, err := UnmarshalModel(payloadV); !errors.As(err, &ve) || ve.What != "logistic model" || ve.Got != 9 {
		t.Errorf("payload version 9: %v", err)
	}
	for cut := 1; cut < len(good); cut += 3 {
		if _, err := UnmarshalModel(good[:cut]); err == nil {
			t.Errorf("truncated to %d bytes: no error", cut)
		}
	}
	if _, err := UnmarshalModel(append(append([]byte(nil), good...), 0)); err == nil || !strings.Contains(err.Error(), "after its payload") {
		t.Errorf("trailing byte: %v", err)
	}
	other := AppendModel(nil, "forest", 1, []byte{1, 2, 3})
	if _, err := UnmarshalModel(other); err == nil || !strings.Contains(err.Error(), `unknown algorithm "forest"`) {
		t.Errorf("unknown algorithm: %v", err)
	}
	var lm LinearModel
	if err := lm.UnmarshalBinary(good); err == nil || !strings.Contains(err.Error(), `is "logistic", not "linear"`) {
		t.Errorf("logistic bytes into a LinearModel: %v", err)
	}
	h, payload, err := ParseModel(other)
	if err != nil || h.Algorithm != "forest" || h.PayloadVersion != 1 || !bytes.Equal(payload, []byte{1, 2, 3}) {
		t.Errorf("ParseModel: %+v %v %v", h, payload, err)
	}
}

// FuzzUnmarshalModel: no input makes decoding panic or allocate without
// bound, and what decodes re-encodes to the same bytes.
func FuzzUnmarshalModel(f *testing.F) {
	for _, m := range goldenModels() {
		enc, _ := m.MarshalBinary()
		f.Add(enc)
	}
	f.Add([]byte("FLML"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := UnmarshalModel(data)
		if err != nil {
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %T does not encode: %v", m, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding changed the bytes:\n in  %x\n out %x", data, again)
		}
	})
}
