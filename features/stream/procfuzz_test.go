package stream

import (
	"bytes"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// FuzzDecodeTableValue: any bytes either decode to a value whose encoding
// decodes to the same value, or fail with an error; never a panic.
func FuzzDecodeTableValue(f *testing.F) {
	f.Add(AppendTableValue(nil, TableValue{Time: 1_700_000_000_000, Values: []float64{1, 2.5, -3}}))
	f.Add(AppendTableValue(nil, TableValue{Time: -5}))
	f.Add([]byte{1, 0, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeTableValue(b)
		if err != nil {
			return
		}
		d, err := DecodeTableValue(AppendTableValue(nil, v))
		if err != nil || d.Time != v.Time || !sameFloats(d.Values, v.Values) {
			t.Fatalf("a decoded feature-table value %+v does not survive re-encoding: %+v, %v", v, d, err)
		}
	})
}

// FuzzDecodeStored: any bytes either decode to a stored state that
// re-encodes to a state equal to it, or fail with an error.
func FuzzDecodeStored(f *testing.F) {
	agg := NewAggregator(procDef(f))
	for i, s := range encodedStates(f, NewAggregator(testDefinition(f))) {
		f.Add(append([]byte{byte(i), 7}, s...))
	}
	st := Stored{Partition: 3, Offset: 99, State: agg.NewState()}
	ev := agg.Definition().NewEvent()
	ev.Time = 1_700_000_000_000
	agg.Apply(st.State, &ev)
	f.Add(agg.AppendStored(nil, st))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := agg.DecodeStored(b)
		if err != nil {
			return
		}
		d, err := agg.DecodeStored(agg.AppendStored(nil, st))
		if err != nil || d.Partition != st.Partition || d.Offset != st.Offset || !sameState(d.State, st.State) {
			t.Fatalf("a decoded stored state does not survive re-encoding: %v", err)
		}
	})
}

// FuzzRecordSource: any header value either reads as a source position
// whose encoding reads as the same position, or as none.
func FuzzRecordSource(f *testing.F) {
	f.Add(sourceHeader(2, 12345).Value)
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &log.Record{Headers: []log.Header{{Key: SourceHeader, Value: b}}}
		src, ok := RecordSource(r)
		if !ok {
			return
		}
		r.Headers[0] = sourceHeader(src.Partition, src.Offset)
		if d, ok := RecordSource(r); !ok || d != src {
			t.Fatalf("source %v does not survive re-encoding: %v %v", src, d, ok)
		}
	})
}

// FuzzRecordDecoder: any record value either decodes to an event of the
// definition's shape, or fails with an error naming the record.
func FuzzRecordDecoder(f *testing.F) {
	def := procDef(f)
	for _, r := range makeEvents(9, 100, 5, time.UnixMilli(1_700_000_000_000)) {
		f.Add(r.Value)
	}
	f.Add([]byte(`{"card":"a","at":1e300}`))
	f.Add([]byte(`{"card":7,"at":"2026-01-02T03:04:05Z","amount":"x"}`))
	dec := NewRecordDecoder(def)
	agg := NewAggregator(def)
	f.Fuzz(func(t *testing.T, b []byte) {
		ev := def.NewEvent()
		r := &log.Record{Topic: "tx", Partition: 1, Offset: 5, Value: b}
		if err := dec.Decode(r, &ev); err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte("tx/1 at offset 5")) {
				t.Fatalf("the error does not name the record: %v", err)
			}
			return
		}
		agg.Apply(agg.NewState(), &ev)
	})
}
