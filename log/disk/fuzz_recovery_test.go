package disk

import (
	"bytes"
	"testing"

	"github.com/flintml/flint/log"
)

// FuzzParseRecoveryPoints: any bytes either fail to parse or parse to
// points that format and parse back to the same.
func FuzzParseRecoveryPoints(f *testing.F) {
	valid := formatRecoveryPoints(map[log.TopicPartition]recoveryPoint{
		{Topic: "a", Partition: 0}:   {base: 0, pos: 4096, next: 10, segs: map[int64]segPoint{0: {sum: indexSum{n: 2, crc: 0xdeadbeef}, size: 4096, next: 10, maxTime: -5}}},
		{Topic: "b.c", Partition: 3}: {base: 100, pos: 0, next: 100, segs: map[int64]segPoint{0: {sum: indexSum{n: 1, crc: 1}, size: 50, next: 100}, 100: {next: 100}}},
	})
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(recoveryPointsHeader + "\ncrc32c 00000000\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		points, err := parseRecoveryPoints(b)
		if err != nil {
			return
		}
		again, err := parseRecoveryPoints(formatRecoveryPoints(points))
		if err != nil || len(again) != len(points) {
			t.Fatalf("formatted points parse back to %d points, %v; want %d", len(again), err, len(points))
		}
		for tp, rp := range points {
			a := again[tp]
			if a.base != rp.base || a.pos != rp.pos || a.next != rp.next || len(a.segs) != len(rp.segs) {
				t.Fatalf("%v: %+v parses back as %+v", tp, rp, a)
			}
			for base, sp := range rp.segs {
				if a.segs[base] != sp {
					t.Fatalf("%v: segment %d: %+v parses back as %+v", tp, base, sp, a.segs[base])
				}
			}
		}
	})
}

// FuzzFindIntact: findIntact on any bytes returns a batch that is whole and
// valid, at or after where it was asked to look.
func FuzzFindIntact(f *testing.F) {
	valid := fuzzSeedBatches(f)
	f.Add(valid, int64(0))
	f.Add(valid, int64(1))
	f.Add(append([]byte("junk"), valid...), int64(0))
	f.Add(append(bytes.Repeat([]byte{1, 0, 0, 0}, 20), valid...), int64(3))
	f.Fuzz(func(t *testing.T, b []byte, from int64) {
		if from < 0 || from > int64(len(b)) {
			return
		}
		pos, h, ok, err := findIntact(bytes.NewReader(b), from, int64(len(b)), 0)
		if err != nil {
			t.Fatalf("findIntact: %v", err)
		}
		if !ok {
			return
		}
		if pos < from || pos+int64(h.size) > int64(len(b)) {
			t.Fatalf("batch at %d of %d bytes, outside [%d, %d)", pos, h.size, from, len(b))
		}
		batch := b[pos : pos+int64(h.size)]
		if hh, err := parseHeader(batch); err != nil || hh != h || validateBatch(batch, h) != nil {
			t.Fatalf("findIntact returned a batch at %d that does not validate", pos)
		}
	})
}
