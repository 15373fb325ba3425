package als

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"
	"testing"
)

// TestRatingRange: an explicit fit keeps the range of its ratings and Clip
// bounds predictions to it; an implicit fit has none.
func TestRatingRange(t *testing.T) {
	rs := []Rating{{User: 1, Item: 10, Value: 1}, {User: 1, Item: 11, Value: 5}, {User: 2, Item: 10, Value: 2.5}, {User: 2, Item: 12, Value: 4}}
	e := newEngine(t, 1)
	m, err := Fit(context.Background(), e, rs, Config{Rank: 2, MaxIter: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasRatingRange || m.RatingMin != 1 || m.RatingMax != 5 {
		t.Fatalf("range %v [%v, %v], want [1, 5]", m.HasRatingRange, m.RatingMin, m.RatingMax)
	}
	for _, c := range [][2]float64{{-3, 1}, {0.99, 1}, {3.3, 3.3}, {5.01, 5}, {1e300, 5}} {
		if got := m.Clip(c[0]); got != c[1] {
			t.Errorf("Clip(%v) = %v, want %v", c[0], got, c[1])
		}
	}
	im, err := Fit(context.Background(), e, rs, Config{Rank: 2, MaxIter: 2, Implicit: true})
	if err != nil {
		t.Fatal(err)
	}
	if im.HasRatingRange || im.Clip(42) != 42 {
		t.Errorf("implicit model: range %v, Clip(42) = %v", im.HasRatingRange, im.Clip(42))
	}
}

// TestReadsVersion1: an encoding of version 1 (no rating range) still
// decodes, without a range.
func TestReadsVersion1(t *testing.T) {
	m := &Model{Rank: 1, ColdStart: ColdStartNaN, UserIDs: []int64{1}, ItemIDs: []int64{2}, UserFactors: []float64{2}, ItemFactors: []float64{3}}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	v1 := slices.Clone(b)
	binary.LittleEndian.PutUint16(v1[len(magic):], 1)
	binary.LittleEndian.PutUint32(v1[len(v1)-4:], crc32.Checksum(v1[:len(v1)-4], castagnoli))
	var got Model
	if err := got.UnmarshalBinary(v1); err != nil {
		t.Fatal(err)
	}
	if got.HasRatingRange || got.Predict(1, 2) != 6 || got.Clip(100) != 100 {
		t.Errorf("version 1 model: range %v, Predict %v", got.HasRatingRange, got.Predict(1, 2))
	}
	m.HasRatingRange, m.RatingMin, m.RatingMax = true, 2, math.NaN()
	if _, err := m.MarshalBinary(); err == nil {
		t.Error("a NaN rating range encoded")
	}
}
