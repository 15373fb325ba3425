package logtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/flintml/flint/log"
)

// testPartitionSizes checks log.Sizer, for backends that have it: an empty
// partition takes 0 bytes, a written one at least its records' payload,
// and the size grows with every append.
func testPartitionSizes(t *testing.T, h Harness) {
	l := open(t, h).l
	s, ok := l.(log.Sizer)
	if !ok {
		t.Skipf("%T does not implement log.Sizer", l)
	}
	ctx := ctxT(t)
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 2})
	sizes, err := s.PartitionSizes(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes[0] != 0 || sizes[1] != 0 {
		t.Fatalf("PartitionSizes of a new topic = %v, want [0 0]", sizes)
	}
	const n, vlen = 20, 100
	recs := make([]log.Record, n)
	for i := range recs {
		recs[i] = log.Record{Key: []byte("k"), Value: bytes.Repeat([]byte{byte('a' + i)}, vlen)}
	}
	mustAppend(t, l, topic, recs)
	p := recs[0].Partition
	sizes, err = s.PartitionSizes(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes[p] < n*(vlen+1) || sizes[1-p] != 0 {
		t.Fatalf("PartitionSizes after %d records of %d bytes to partition %d = %v, want at least %d there and 0 in the other",
			n, vlen+1, p, sizes, n*(vlen+1))
	}
	before := sizes[p]
	mustAppend(t, l, topic, recs[:1:1])
	if sizes, err = s.PartitionSizes(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if sizes[p] <= before {
		t.Fatalf("PartitionSizes of partition %d after one more record = %d, want more than %d", p, sizes[p], before)
	}
	if _, err := s.PartitionSizes(ctx, name(t, "missing")); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("PartitionSizes(missing) = %v, want ErrUnknownTopic", err)
	}
}
