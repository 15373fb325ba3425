// Package mltest holds what the tests of the ml packages share: bit-exact
// comparison of float64 slices and the encode-decode round trip of a model
// or checkpoint state. Only tests import it.
package mltest

import (
	"encoding"
	"math"
	"slices"
	"testing"
)

// BitsEqual reports whether a and b hold the same float64 bits (so NaNs
// with equal payloads are equal and 0 differs from -0).
func BitsEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// Codec is a pointer to a value with a binary encoding.
type Codec[T any] interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// RoundTrip encodes v and decodes the bytes into a new value, failing the
// test on any error: what a checkpoint or a model goes through in a store.
func RoundTrip[T any, P Codec[T]](t testing.TB, v P) P {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out := P(new(T))
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return out
}
