package log

import (
	"fmt"
	"testing"
)

// The vectors of Kafka's own UtilsTest.testMurmur2 (Java client), plus the
// empty input; a mismatch would send keys to other partitions than every
// Java, librdkafka and kafka-go producer does.
func TestMurmur2KafkaVectors(t *testing.T) {
	cases := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
		{"", 275646681},
	}
	for _, c := range cases {
		if got := Murmur2([]byte(c.in)); got != c.want {
			t.Errorf("Murmur2(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestPartitionIsPositiveModulo(t *testing.T) {
	// -790332482 & 0x7fffffff = 1357151166; 1357151166 % 50 = 16.
	if got := Partition([]byte("foobar"), 50); got != 16 {
		t.Fatalf("Partition(foobar, 50) = %d, want 16", got)
	}
	for i := 0; i < 10000; i++ {
		k := []byte(fmt.Sprintf("key-%d", i))
		for _, n := range []int{1, 3, 7, 64} {
			if p := Partition(k, n); p < 0 || p >= n {
				t.Fatalf("Partition(%q, %d) = %d out of range", k, n, p)
			}
		}
	}
}

func TestPartitionerStickyPerCall(t *testing.T) {
	var p Partitioner
	seen := map[int]bool{}
	for call := 0; call < 4; call++ {
		recs := make([]Record, 5)
		recs[2].Key = []byte("foobar")
		p.Assign(recs, 4)
		if recs[2].Partition != Partition([]byte("foobar"), 4) {
			t.Fatalf("keyed record went to %d", recs[2].Partition)
		}
		for _, i := range []int{0, 1, 3, 4} {
			if recs[i].Partition != recs[0].Partition {
				t.Fatalf("call %d: unkeyed records split across partitions %d and %d", call, recs[0].Partition, recs[i].Partition)
			}
		}
		seen[recs[0].Partition] = true
	}
	if len(seen) != 4 {
		t.Fatalf("4 calls over 4 partitions used %d partitions, want rotation over all", len(seen))
	}
}

func TestValidTopicName(t *testing.T) {
	for _, ok := range []string{"a", "fashion-mnist.train_v2", "A.B-C_9"} {
		if err := ValidTopicName(ok); err != nil {
			t.Errorf("ValidTopicName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../etc", "sp ace", string(make([]byte, 250))} {
		if err := ValidTopicName(bad); err == nil {
			t.Errorf("ValidTopicName(%q) accepted", bad)
		}
	}
}

func BenchmarkPartition(b *testing.B) {
	key := []byte("user-0000012345")
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		_ = Partition(key, 12)
	}
}
