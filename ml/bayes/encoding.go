package bayes

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/flintml/flint/ml"
)

// payloadVersion is the version of the payload MarshalBinary writes.
const payloadVersion = 1

var typeCodes = [...]string{Multinomial, Bernoulli, Gaussian}

func (m *Model) typeCode() (byte, bool) {
	for i, t := range typeCodes {
		if t == m.Type {
			return byte(i), true
		}
	}
	return 0, false
}

// MarshalBinary implements encoding.BinaryMarshaler. The encoding is ml's
// model envelope (ml.AppendModel) under the algorithm name "naive_bayes",
// payload version 1, around this payload (integers and floats
// little-endian):
//
//	uint8     model type: 0 multinomial, 1 Bernoulli, 2 Gaussian
//	uint32    classes K (2 … MaxClasses)
//	uint32    features D
//	float64   Smoothing, then Epsilon
//	K×float64 ClassCount, then K×float64 ClassLogPrior
//	multinomial, Bernoulli: K×D float64 FeatureLogProb
//	Gaussian:               K×D float64 Theta, then K×D float64 Var
//
// Nothing may follow. A hand-made model whose slices do not fit its shape
// is an error.
func (m *Model) MarshalBinary() ([]byte, error) {
	code, ok := m.typeCode()
	k, d := m.Classes, m.Features
	if !ok || k < 2 || k > MaxClasses || d < 0 || d > math.MaxUint32 {
		return nil, fmt.Errorf("bayes: malformed model: type %q, %d classes, %d features", m.Type, k, d)
	}
	params := [][]float64{m.FeatureLogProb}
	if m.Type == Gaussian {
		params = [][]float64{m.Theta, m.Var}
	}
	if len(m.ClassCount) != k || len(m.ClassLogPrior) != k {
		return nil, fmt.Errorf("bayes: malformed model: %d class counts and %d priors for %d classes", len(m.ClassCount), len(m.ClassLogPrior), k)
	}
	for _, p := range params {
		if len(p) != k*d {
			return nil, fmt.Errorf("bayes: malformed %s model: %d parameters for %d classes × %d features", m.Type, len(p), k, d)
		}
	}
	p := make([]byte, 0, 25+8*(2*k+len(params)*k*d))
	p = append(p, code)
	p = binary.LittleEndian.AppendUint32(p, uint32(k))
	p = binary.LittleEndian.AppendUint32(p, uint32(d))
	p = appendF64s(p, []float64{m.Smoothing, m.Epsilon})
	p = appendF64s(p, m.ClassCount)
	p = appendF64s(p, m.ClassLogPrior)
	for _, v := range params {
		p = appendF64s(p, v)
	}
	return ml.AppendModel(nil, Algorithm, payloadVersion, p), nil
}

func appendF64s(dst []byte, v []float64) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	return dst
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler: it decodes what
// MarshalBinary encoded, replacing m. An envelope or payload version this
// build does not read is an *ml.VersionError; a truncated or inconsistent
// encoding, or parameters no fit produces (a NaN, a variance <= 0), is an
// error that says what is wrong.
func (m *Model) UnmarshalBinary(data []byte) error {
	h, p, err := ml.ParseModel(data)
	if err != nil {
		return err
	}
	if h.Algorithm != Algorithm {
		return fmt.Errorf("bayes: encoded model is %q, not %q", h.Algorithm, Algorithm)
	}
	if h.PayloadVersion != payloadVersion {
		return &ml.VersionError{What: Algorithm + " model", Got: h.PayloadVersion, Want: payloadVersion}
	}
	const fixed = 1 + 4 + 4 + 8 + 8
	if len(p) < fixed {
		return fmt.Errorf("bayes: encoded model is truncated: %d payload bytes, want at least %d", len(p), fixed)
	}
	code, k, d := p[0], uint64(binary.LittleEndian.Uint32(p[1:])), uint64(binary.LittleEndian.Uint32(p[5:]))
	if int(code) >= len(typeCodes) || k < 2 || k > MaxClasses {
		return fmt.Errorf("bayes: encoded model has type code %d and %d classes: want a code below %d and 2 to %d classes", code, k, len(typeCodes), MaxClasses)
	}
	nparams := uint64(1)
	if typeCodes[code] == Gaussian {
		nparams = 2
	}
	if want := fixed + 8*(2*k+nparams*k*d); uint64(len(p)) != want {
		return fmt.Errorf("bayes: encoded %s model of %d classes × %d features has %d payload bytes, want %d", typeCodes[code], k, d, len(p), want)
	}
	f := f64s(p[9:], 2+2*int(k)+int(nparams*k*d))
	out := Model{Type: typeCodes[code], Classes: int(k), Features: int(d), Smoothing: f[0], Epsilon: f[1]}
	f = f[2:]
	out.ClassCount, out.ClassLogPrior, f = f[:k:k], f[k:2*k:2*k], f[2*k:]
	if out.Type == Gaussian {
		out.Theta, out.Var = f[:k*d:k*d], f[k*d:]
	} else {
		out.FeatureLogProb = f
	}
	if err := out.checkValues(); err != nil {
		return err
	}
	*m = Model{Type: out.Type, Classes: out.Classes, Features: out.Features, Smoothing: out.Smoothing, Epsilon: out.Epsilon,
		ClassCount: out.ClassCount, ClassLogPrior: out.ClassLogPrior, FeatureLogProb: out.FeatureLogProb, Theta: out.Theta, Var: out.Var}
	return nil
}

func f64s(b []byte, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}

// checkValues rejects parameters no fit produces.
func (m *Model) checkValues() error {
	finite := func(v float64) bool { return v >= -math.MaxFloat64 && v <= math.MaxFloat64 }
	if !finite(m.Smoothing) || m.Smoothing < 0 || !finite(m.Epsilon) || m.Epsilon < 0 {
		return fmt.Errorf("bayes: encoded model has smoothing %v and epsilon %v", m.Smoothing, m.Epsilon)
	}
	for c := range m.ClassCount {
		if n, lp := m.ClassCount[c], m.ClassLogPrior[c]; !finite(n) || n < 0 || !(lp <= 0) {
			return fmt.Errorf("bayes: encoded model has class %d count %v and log prior %v", c, n, lp)
		}
	}
	for i, lp := range m.FeatureLogProb {
		if !(lp <= 0) {
			return fmt.Errorf("bayes: encoded model has feature log probability %v at %d", lp, i)
		}
	}
	for i := range m.Theta {
		if !finite(m.Theta[i]) || !(m.Var[i] > 0 && finite(m.Var[i])) {
			return fmt.Errorf("bayes: encoded model has mean %v and variance %v at %d", m.Theta[i], m.Var[i], i)
		}
	}
	return nil
}
