package stream

import (
	"errors"
	"testing"
)

// FuzzParse: any input either decodes to a definition the aggregator can
// run, or fails with DefErrors that each name the file and say something.
func FuzzParse(f *testing.F) {
	f.Add([]byte(exampleDefinition))
	f.Add([]byte("name: x\nsource: {topic: t, key: k, fields: {k: string}}\nfeatures: [{name: c, aggregate: count, window: {tumbling: 1h}}]\n"))
	f.Add([]byte("name: [\n"))
	f.Add([]byte("features: [{window: {sliding: 7d, resolution: 1ms}}]\n"))
	f.Add([]byte("derived: [{name: a, div: [&x 1, *x]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := Parse("f.yaml", data)
		if err != nil {
			var errs DefErrors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse failed without DefErrors: %v", err)
			}
			for _, e := range errs {
				if e.File != "f.yaml" || e.Msg == "" {
					t.Fatalf("an error without file or message: %#v", e)
				}
			}
			return
		}
		agg := NewAggregator(def)
		s := agg.NewState()
		ev := def.NewEvent()
		out := make([]float64, len(def.Features))
		for i := range 3 {
			ev.Time = int64(i) * 1000
			agg.Apply(s, &ev)
			agg.Value(s, ev.Time, out)
		}
		if _, err := agg.DecodeState(agg.AppendState(nil, s)); err != nil {
			t.Fatalf("a state does not decode: %v", err)
		}
	})
}

// FuzzDecodeState: any bytes either decode to a state that works and
// re-encodes to a state equal to it, or fail with an error; never a panic.
func FuzzDecodeState(f *testing.F) {
	agg := NewAggregator(testDefinition(f))
	for _, b := range encodedStates(f, agg) {
		f.Add(b)
	}
	f.Add([]byte("FLST\x01"))
	def := agg.Definition()
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := agg.DecodeState(b)
		if err != nil {
			return
		}
		d, err := agg.DecodeState(agg.AppendState(nil, s))
		if err != nil || !sameState(d, s) {
			t.Fatalf("a decoded state does not survive re-encoding: %v", err)
		}
		out := make([]float64, len(def.Features))
		ev := def.NewEvent()
		tm, _ := s.Time()
		for _, dt := range []int64{-10_000, 0, 1, 70_000} {
			ev.Time = tm + dt
			agg.Apply(s, &ev)
			agg.Value(s, ev.Time, out)
		}
	})
}
