package log

import "sync/atomic"

// Murmur2 is the 32-bit murmur2 hash exactly as Kafka's Java client computes
// it (org.apache.kafka.common.utils.Utils.murmur2, seed 0x9747b28c), including
// its treatment of the trailing bytes.
func Murmur2(data []byte) int32 {
	const (
		seed = uint32(0x9747b28c)
		m    = uint32(0x5bd1e995)
		r    = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// Partition returns the partition Kafka's default partitioner picks for a
// non-nil key among n partitions: toPositive(murmur2(key)) % n, where
// toPositive clears the sign bit (it is not an absolute value).
func Partition(key []byte, n int) int {
	return int(uint32(Murmur2(key))&0x7fffffff) % n
}

// Partitioner assigns partitions to the records of successive Append calls:
// keyed records by Partition, unkeyed ones sticky per call, rotating between
// calls. The zero value is ready to use and it is safe for concurrent use.
type Partitioner struct {
	next atomic.Uint32
}

// Assign sets the Partition field of every record in recs for a topic of n
// partitions.
func (p *Partitioner) Assign(recs []Record, n int) {
	sticky := -1
	for i := range recs {
		if recs[i].Key != nil {
			recs[i].Partition = Partition(recs[i].Key, n)
			continue
		}
		if sticky < 0 {
			sticky = int((p.next.Add(1) - 1) % uint32(n))
		}
		recs[i].Partition = sticky
	}
}
