package disk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// fuzzSeedBatches encodes a few batches, as Append would write them.
func fuzzSeedBatches(tb testing.TB) []byte {
	var b []byte
	var base int64
	for n := 1; n <= 3; n++ {
		recs := make([]log.Record, n)
		for i := range recs {
			recs[i] = testRecord(int(base)+i, 5+i*3)
			if i == 1 {
				recs[i].Key = nil
				recs[i].Headers = []log.Header{{Key: "h", Value: []byte("v")}, {Key: "n"}}
			}
		}
		var err error
		if b, err = encodeBatches(b, base, recs, nil, "t", 0); err != nil {
			tb.Fatal(err)
		}
		base += int64(n)
	}
	return b
}

func FuzzDecodeBatches(f *testing.F) {
	valid := fuzzSeedBatches(f)
	f.Add([]byte{})
	f.Add(make([]byte, 100))
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:batchHeaderSize+3])
	f.Add(append(bytes.Clone(valid), "garbage after the batches"...))
	f.Add(append(bytes.Clone(valid), make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, n, err := decodeBatches(b)
		if n < 0 || n > len(b) {
			t.Fatalf("valid prefix %d of a %d-byte input", n, len(b))
		}
		if n == len(b) && err != nil {
			t.Fatalf("whole input valid, yet error %v", err)
		}
		if n < len(b) && err == nil {
			t.Fatalf("valid prefix %d of %d bytes without an error", n, len(b))
		}
		again, n2, err := decodeBatches(b[:n])
		if err != nil || n2 != n || len(again) != len(recs) {
			t.Fatalf("re-decoding the valid prefix: %d records, %d bytes, %v; first time %d records, %d bytes", len(again), n2, err, len(recs), n)
		}
		for i := range recs {
			a, r := again[i], recs[i]
			if a.Offset != r.Offset || !a.Time.Equal(r.Time) || !bytes.Equal(a.Key, r.Key) || (a.Key == nil) != (r.Key == nil) ||
				!bytes.Equal(a.Value, r.Value) || len(a.Headers) != len(r.Headers) {
				t.Fatalf("record %d decodes differently the second time", i)
			}
		}
		// What decodes encodes again to batches that decode the same.
		var re []byte
		for off, i := 0, 0; off < n; {
			h, _ := parseHeader(b[off:])
			re, err = encodeBatches(re, h.base, recs[i:i+h.count], nil, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			off += h.size
			i += h.count
		}
		back, n3, err := decodeBatches(re)
		if err != nil || n3 != len(re) || len(back) != len(recs) {
			t.Fatalf("re-encoded records do not decode: %d of %d bytes, %v", n3, len(re), err)
		}
		for i := range back {
			if back[i].Offset != recs[i].Offset || !back[i].Time.Equal(recs[i].Time) || !bytes.Equal(back[i].Value, recs[i].Value) {
				t.Fatalf("record %d changed through encode and decode", i)
			}
		}
	})
}

// FuzzOpenSegment writes the input as the only segment of a partition and
// opens the log: Open must succeed, having truncated a torn tail, or fail
// with a *CorruptionError; it must never panic. Each input opens a log, so
// minimizing is slow; fuzz it with -fuzzminimizetime 2s.
func FuzzOpenSegment(f *testing.F) {
	valid := fuzzSeedBatches(f)
	f.Add([]byte{})
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(append(bytes.Clone(valid), 1, 2, 3, 4, 5, 6, 7, 8, 9))
	f.Add(make([]byte, 50))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		cfg, _ := testConfig(dir)
		cfg.Sync = SyncUnsafeNever // fast, and the files are thrown away
		// The files CreateTopic would make, and the segment.
		seg := filepath.Join(dir, "t", "0", segmentName(0))
		if err := os.MkdirAll(filepath.Dir(seg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "t", metaName), []byte(`{"version":1,"partitions":1}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(seg, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(cfg)
		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.Segment != seg || ce.Offset < 0 || ce.Offset >= int64(len(b)) {
				t.Fatalf("Open failed with %v, want a *CorruptionError inside %s", err, seg)
			}
			return
		}
		defer closeLog(t, l)
		recs, valid, _ := decodeBatches(b)
		rec := l.Recovery()
		switch {
		case valid == len(b) && len(rec) != 0:
			t.Fatalf("Recovery() = %v for an intact segment", rec)
		case valid < len(b) && (len(rec) != 1 || rec[0].TruncatedAt != int64(valid) || rec[0].BytesDropped != int64(len(b)-valid)):
			t.Fatalf("Recovery() = %v, want truncation at %d of %d bytes", rec, valid, len(b))
		}
		got := readAll(t, l, "t", 0)
		if len(got) != len(recs) {
			t.Fatalf("read %d records, the segment's valid prefix has %d", len(got), len(recs))
		}
		more := []log.Record{{Value: []byte("after"), Time: time.Unix(1, 0)}}
		if err := l.Append(context.Background(), "t", more); err != nil || more[0].Offset != int64(len(recs)) {
			t.Fatalf("Append after recovery: offset %d, %v; want offset %d", more[0].Offset, err, len(recs))
		}
	})
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	b := fuzzSeedBatches(t)
	recs, n, err := decodeBatches(b)
	if err != nil || n != len(b) || len(recs) != 6 {
		t.Fatalf("decoded %d records, %d of %d bytes, %v", len(recs), n, len(b), err)
	}
	var re []byte
	re, _ = encodeBatches(re, 0, recs[:1], nil, "t", 0)
	re, _ = encodeBatches(re, 1, recs[1:3], nil, "t", 0)
	re, _ = encodeBatches(re, 3, recs[3:], nil, "t", 0)
	if !bytes.Equal(re, b) {
		t.Fatal("decoding and encoding again changed the bytes")
	}
	if r := recs[2]; r.Key != nil || len(r.Headers) != 2 || r.Headers[1].Value != nil || string(r.Headers[0].Value) != "v" {
		t.Fatalf("record 2 = %+v", recs[2])
	}
}
