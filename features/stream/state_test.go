package stream

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// encodedStates returns encodings of the states of a generated stream.
func encodedStates(t testing.TB, agg *Aggregator) [][]byte {
	t.Helper()
	states := map[string]*State{}
	var out [][]byte
	for i, ev := range genEvents(agg.Definition(), 3, 300, 2) {
		if states[ev.Key] == nil {
			states[ev.Key] = agg.NewState()
			out = append(out, agg.AppendState(nil, states[ev.Key]))
		}
		agg.Apply(states[ev.Key], &ev)
		if i%50 == 0 {
			out = append(out, agg.AppendState(nil, states[ev.Key]))
		}
	}
	return out
}

// TestStateEncodingErrors: a state that is not one this definition wrote
// is refused with one sentence saying what is wrong.
func TestStateEncodingErrors(t *testing.T) {
	def := testDefinition(t)
	agg := NewAggregator(def)
	good := encodedStates(t, agg)[3]
	other, err := Parse("o.yaml", []byte(strings.Replace(exampleDefinition, "precision: 12", "precision: 11", 1)))
	if err != nil {
		t.Fatal(err)
	}
	fromOther := NewAggregator(other).AppendState(nil, NewAggregator(other).NewState())
	// A state whose first register is out of range: distinct_count_0 has
	// precision 10, so at most 55.
	badReg := agg.NewState()
	badReg.applied, badReg.time = 1, 5
	badReg.regs[0] = 56
	// A state with an event and a stream time out of range.
	badTime := agg.NewState()
	badTime.applied, badTime.time = 1, MaxTime+1
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "stream: the encoded state does not start with the state header"},
		{"not a state", []byte("{\"json\": true}"), "stream: the encoded state does not start with the state header"},
		{"a later version", append([]byte("FLST\x02"), good[5:]...), "stream: the encoded state is version 2; this build reads version 1"},
		{"another definition", fromOther, `stream: the encoded state was written for another layout of definition "generated" (fingerprint ` +
			hex16(binary.LittleEndian.Uint64(fromOther[5:])) + ", want " + hex16(agg.fingerprint) + "): rebuild it from the log"},
		{"cut short", good[:len(good)-3], "stream: the encoded state is cut short or malformed in its registers"},
		{"cut in the stream time", good[:14], "stream: the encoded state is cut short or malformed in its stream time"},
		{"cut in the counters", good[:19], "stream: the encoded state is cut short or malformed in its counters"},
		{"trailing bytes", append(append([]byte(nil), good...), 1, 2), "stream: the encoded state has 2 bytes after its end"},
		{"register out of range", agg.AppendState(nil, badReg),
			"stream: the encoded state has a register of 56 in a HyperLogLog of precision 10; at most 55"},
		{"time out of range", agg.AppendState(nil, badTime), "stream: the encoded state's stream time 9007199254740993 is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := agg.DecodeState(tc.b)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error %v\nwant %s", err, tc.want)
			}
		})
	}
}

func hex16(x uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i], x = digits[x&15], x>>4
	}
	return string(b)
}

// TestStateRoundTrip: states survive encoding bit for bit, NaN and -0
// cells included, and the encoding of an empty state is small.
func TestStateRoundTrip(t *testing.T) {
	agg := NewAggregator(testDefinition(t))
	for i, b := range encodedStates(t, agg) {
		s, err := agg.DecodeState(b)
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		if again := agg.AppendState(nil, s); string(again) != string(b) {
			t.Fatalf("state %d: re-encoding gives other bytes", i)
		}
	}
	s := agg.NewState()
	s.applied, s.time = 1, -MaxTime
	s.cells[0], s.cells[1], s.cells[len(s.cells)-1] = math.NaN(), math.Copysign(0, -1), math.Inf(-1)
	d, err := agg.DecodeState(agg.AppendState(nil, s))
	if err != nil || !sameState(d, s) {
		t.Fatalf("NaN, -0 and -Inf cells do not survive: %v", err)
	}
	if n := len(agg.AppendState(nil, agg.NewState())); n > 40 {
		t.Fatalf("an empty state encodes to %d bytes; want at most 40", n)
	}
}
