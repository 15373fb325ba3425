package bayes

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/flintml/flint/ml"
)

// fitted returns a small fitted model of each type.
func fitted(t testing.TB) map[string]*Model {
	t.Helper()
	e := newEngine(t, 2)
	out := map[string]*Model{}
	for _, mt := range []string{Multinomial, Bernoulli, Gaussian} {
		d := synthetic(21, 300, 5, 3, mt, 2, true)
		out[mt] = fit(t, e, d.load(t, e, 2, false), Config{ModelType: mt, Smoothing: 0.7})
	}
	return out
}

// TestEncodingRoundTrip: a model decoded by ml.UnmarshalModel is a
// *Model with the same parameters, encodes to the same bytes and predicts
// the same bits.
func TestEncodingRoundTrip(t *testing.T) {
	for mt, m := range fitted(t) {
		t.Run(mt, func(t *testing.T) {
			enc := encode(t, m)
			g, err := ml.UnmarshalModel(enc)
			if err != nil {
				t.Fatal(err)
			}
			back, ok := g.(*Model)
			if !ok {
				t.Fatalf("ml.UnmarshalModel returned %T", g)
			}
			if again := encode(t, back); !bytes.Equal(again, enc) {
				t.Fatal("the decoded model encodes to other bytes")
			}
			if back.Algorithm() != "naive_bayes" || back.NumClasses() != 3 || back.NumFeatures() != 5 || back.Type != mt {
				t.Fatalf("decoded %s %q with %d classes × %d features", back.Algorithm(), back.Type, back.NumClasses(), back.NumFeatures())
			}
			d := synthetic(22, 100, 5, 3, mt, 2, false)
			p1, p2 := make([]float64, 3*d.rows), make([]float64, 3*d.rows)
			m.ProbaBatch(p1, d.x, d.rows)
			back.ProbaBatch(p2, d.x, d.rows)
			for i := range p1 {
				if math.Float64bits(p1[i]) != math.Float64bits(p2[i]) {
					t.Fatalf("probability %d: %v before encoding, %v after", i, p1[i], p2[i])
				}
			}
		})
	}
}

// TestDecodeErrors: envelopes and payloads that are not a model this
// build reads fail with an error saying why.
func TestDecodeErrors(t *testing.T) {
	enc := encode(t, fitted(t)[Gaussian])
	_, payload, err := ml.ParseModel(enc)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(p []byte) []byte) []byte {
		return ml.AppendModel(nil, Algorithm, payloadVersion, f(append([]byte(nil), payload...)))
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"not a model", []byte("hello"), "bad magic"},
		{"newer version", ml.AppendModel(nil, Algorithm, payloadVersion+1, payload), "version 2 is unknown"},
		{"other algorithm", ml.AppendModel(nil, "logistic", 1, payload), `is "logistic", not "naive_bayes"`},
		{"truncated", with(func(p []byte) []byte { return p[:len(p)-1] }), "payload bytes, want"},
		{"short", with(func(p []byte) []byte { return p[:10] }), "truncated"},
		{"type code", with(func(p []byte) []byte { p[0] = 3; return p }), "type code 3"},
		{"one class", with(func(p []byte) []byte { binary.LittleEndian.PutUint32(p[1:], 1); return p }), "1 classes"},
		{"huge shape", with(func(p []byte) []byte { binary.LittleEndian.PutUint32(p[5:], math.MaxUint32); return p }), "payload bytes, want"},
		{"zero variance", with(func(p []byte) []byte { binary.LittleEndian.PutUint64(p[len(p)-8:], 0); return p }), "variance 0"},
		{"NaN prior", with(func(p []byte) []byte {
			binary.LittleEndian.PutUint64(p[25+3*8:], math.Float64bits(math.NaN()))
			return p
		}), "log prior NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m Model
			err := m.UnmarshalBinary(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	var m Model
	var ve *ml.VersionError
	if err := m.UnmarshalBinary(cases[1].data); !errors.As(err, &ve) || ve.Got != 2 || ve.Want != 1 {
		t.Errorf("newer version: %v, want an *ml.VersionError", err)
	}
}

// TestMarshalMalformed: a hand-made model that does not hold together is
// refused rather than encoded.
func TestMarshalMalformed(t *testing.T) {
	for _, m := range []*Model{
		{Type: "complement", Classes: 2, Features: 1},
		{Type: Multinomial, Classes: 1, Features: 1},
		{Type: Multinomial, Classes: 2, Features: 2, ClassCount: []float64{1, 1}, ClassLogPrior: []float64{-1, -1}, FeatureLogProb: []float64{-1}},
		{Type: Gaussian, Classes: 2, Features: 1, ClassCount: []float64{1}, ClassLogPrior: []float64{-1, -1}},
	} {
		if _, err := m.MarshalBinary(); err == nil {
			t.Errorf("%+v encoded", m)
		}
	}
}

// TestTaskValuesEncode: the broadcast and the partial survive encoding/gob,
// as they must to reach remote workers.
func TestTaskValuesEncode(t *testing.T) {
	for _, v := range []any{
		&fitArg{Kind: gaussianKind, D: 3, Classes: 4, Given: true},
		&fitPartial{Rows: 5, D: 2, Gauss: true, Count: []float64{1, 2}, Mean: []float64{1, 2, 3, 4}, M2: []float64{5, 6, 7, 8}},
		&fitPartial{Rows: 5, D: 2, Count: []float64{1, 2}, Sum: []float64{1, 2, 3, 4}},
	} {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem())
		if err := gob.NewDecoder(&buf).Decode(back.Interface()); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(back.Interface(), v) {
			t.Errorf("%T: %+v came back as %+v", v, v, back.Interface())
		}
	}
}

// FuzzUnmarshalBinary: decoding never panics, and whatever decodes
// encodes back to the same bytes and predicts without panicking.
func FuzzUnmarshalBinary(f *testing.F) {
	for _, m := range fitted(f) {
		enc := encode(f, m)
		f.Add(enc)
		f.Add(enc[:len(enc)-3])
		f.Add(append(append([]byte(nil), enc...), 0))
	}
	f.Add([]byte{})
	f.Add([]byte("FLML"))
	f.Add(ml.AppendModel(nil, Algorithm, payloadVersion, make([]byte, 25)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Model
		if err := m.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded model does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatal("decoded model encodes to other bytes")
		}
		x := make([]float64, m.Features)
		p := make([]float64, m.Classes)
		m.ProbaBatch(p, x, 1)
		m.ProbaSparse(p, nil, nil)
		_ = m.Predict(x)
	})
}
