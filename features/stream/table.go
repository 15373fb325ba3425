package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flintml/flint/log"
)

// TableValue is one record of a feature table: a key's feature values
// just after one of its events was applied, at the key's stream time.
//
// The record's key is the entity key and its value is, version 1:
//
//	version byte (1) | stream time, ms since the epoch (signed varint)
//	| feature count (uvarint) | each value as float64 bits (8 bytes, LE)
//
// the values in definition order (Definition.FeatureNames). Feature-table
// and changelog records carry a header SourceHeader naming the source
// record they follow from.
type TableValue struct {
	Time   int64
	Values []float64
}

const tableVersion = 1

// SourceHeader is the header of feature-table and changelog records that
// names the source record they follow from: uvarint partition, uvarint
// offset.
const SourceHeader = "flint-src"

// AppendTableValue appends the encoding of a feature-table value.
func AppendTableValue(dst []byte, v TableValue) []byte {
	dst = slices.Grow(dst, tableValueSize(len(v.Values)))
	dst = append(dst, tableVersion)
	dst = binary.AppendVarint(dst, v.Time)
	dst = binary.AppendUvarint(dst, uint64(len(v.Values)))
	for _, x := range v.Values {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	return dst
}

// tableValueSize bounds the encoded size of a table value of n values.
func tableValueSize(n int) int { return 1 + 2*binary.MaxVarintLen64 + 8*n }

// DecodeTableValue decodes a feature-table record's value.
func DecodeTableValue(b []byte) (TableValue, error) {
	if len(b) == 0 || b[0] != tableVersion {
		return TableValue{}, errors.New("stream: the feature-table value is empty or not version 1")
	}
	b = b[1:]
	t, n := binary.Varint(b)
	if n <= 0 {
		return TableValue{}, errors.New("stream: the feature-table value's stream time is cut short")
	}
	b = b[n:]
	c, n := binary.Uvarint(b)
	if n <= 0 || c != uint64(len(b)-n)/8 || (len(b)-n)%8 != 0 {
		return TableValue{}, fmt.Errorf("stream: the feature-table value's count of values does not match its %d bytes of values", max(len(b)-max(n, 0), 0))
	}
	b = b[n:]
	v := TableValue{Time: t, Values: make([]float64, c)}
	for i := range v.Values {
		v.Values[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v, nil
}

// SourcePos is a source record's position: what a feature-table or
// changelog record follows from.
type SourcePos struct {
	Partition int
	Offset    int64
}

func sourceHeader(p int, o int64) log.Header {
	b := binary.AppendUvarint(make([]byte, 0, 8), uint64(p))
	return log.Header{Key: SourceHeader, Value: binary.AppendUvarint(b, uint64(o))}
}

// RecordSource returns the source position in a record's SourceHeader,
// and false if it has none or it is malformed.
func RecordSource(r *log.Record) (SourcePos, bool) {
	for _, h := range r.Headers {
		if h.Key != SourceHeader {
			continue
		}
		p, n := binary.Uvarint(h.Value)
		if n <= 0 || p > 1<<31 {
			return SourcePos{}, false
		}
		o, m := binary.Uvarint(h.Value[n:])
		if m <= 0 || n+m != len(h.Value) || o > 1<<62 {
			return SourcePos{}, false
		}
		return SourcePos{int(p), int64(o)}, true
	}
	return SourcePos{}, false
}

// TableReader is what LatestValue reads of a log; every log.Log is one.
type TableReader interface {
	Describe(ctx context.Context, topic string) (log.TopicInfo, error)
	Read(ctx context.Context, topic string, partition int, offset int64, opt log.ReadOptions) ([]log.Record, error)
}

// LatestValue returns a key's newest record in a feature table (the
// processor's Table topic), read from the start of the key's partition,
// with the record's log time; false when the table holds none for the key.
func LatestValue(ctx context.Context, l TableReader, topic, key string) (TableValue, time.Time, bool, error) {
	info, err := l.Describe(ctx, topic)
	if err != nil {
		return TableValue{}, time.Time{}, false, fmt.Errorf("stream: feature table %q: %w", topic, err)
	}
	q := log.Partition([]byte(key), len(info.Partitions))
	pi := info.Partitions[q]
	var last *log.Record
	for off := pi.Earliest; off < pi.Latest; {
		recs, err := l.Read(ctx, topic, q, off, log.ReadOptions{})
		if err != nil {
			return TableValue{}, time.Time{}, false, fmt.Errorf("stream: read %s/%d at offset %d: %w", topic, q, off, err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			if string(recs[i].Key) == key {
				last = &recs[i]
			}
			off = recs[i].Offset + 1
		}
	}
	if last == nil {
		return TableValue{}, time.Time{}, false, nil
	}
	v, err := DecodeTableValue(last.Value)
	if err != nil {
		return TableValue{}, time.Time{}, false, fmt.Errorf("stream: key %q in feature table %q: %w", key, topic, err)
	}
	return v, last.Time, true, nil
}
