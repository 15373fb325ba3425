package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"

	"github.com/flintml/flint/log"
)

// The batch format; doc.go has the byte diagram.
const (
	batchMagic      = 1  // format version, the byte at offset 8 of a batch
	batchHeaderSize = 40 // fixed part of a batch, before its records
	// lenFieldSize is the size of the length field, which counts the bytes
	// after itself.
	lenFieldSize = 4
	// crcStart is where the bytes covered by the CRC begin.
	crcStart = 8

	// maxBatchBytes bounds one batch. An Append whose records for one
	// partition encode to more is split into several batches, written with
	// the same single write.
	maxBatchBytes = 8 << 20
	// maxRecordBytes bounds one encoded record, so a batch always fits the
	// 32-bit length field and a segment position fits 32 bits.
	maxRecordBytes = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors a batch can fail to decode with. A *CorruptionError wraps them with
// the file and byte position.
var (
	// ErrChecksum means a batch's CRC-32C does not match its bytes.
	ErrChecksum = errors.New("disk: checksum mismatch")
	// ErrMalformed means a batch's header or records are not well formed
	// (a bad magic byte, a length out of range, a record running past the
	// end of its batch, ...).
	ErrMalformed = errors.New("disk: malformed batch")
)

// batchHeader is the decoded fixed part of a batch.
type batchHeader struct {
	size    int // whole batch in bytes, length field included
	crc     uint32
	count   int   // records, >= 1
	base    int64 // offset of the first record
	minTime int64 // unix nanoseconds
	maxTime int64
}

// next is the offset after the batch's last record.
func (h batchHeader) next() int64 { return h.base + int64(h.count) }

// parseHeader decodes and sanity-checks the fixed part of the batch at the
// start of b. It returns io.ErrUnexpectedEOF when b is shorter than a
// header; it does not need the records and does not check the CRC.
func parseHeader(b []byte) (batchHeader, error) {
	if len(b) < batchHeaderSize {
		return batchHeader{}, io.ErrUnexpectedEOF
	}
	h := batchHeader{
		size:    lenFieldSize + int(binary.LittleEndian.Uint32(b[0:])),
		crc:     binary.LittleEndian.Uint32(b[4:]),
		count:   int(binary.LittleEndian.Uint32(b[12:])),
		base:    int64(binary.LittleEndian.Uint64(b[16:])),
		minTime: int64(binary.LittleEndian.Uint64(b[24:])),
		maxTime: int64(binary.LittleEndian.Uint64(b[32:])),
	}
	switch {
	case b[8] != batchMagic:
		return h, fmt.Errorf("%w: magic byte %d, want %d", ErrMalformed, b[8], batchMagic)
	case b[9] != 0 || b[10] != 0 || b[11] != 0:
		return h, fmt.Errorf("%w: reserved header bytes are not zero", ErrMalformed)
	case h.size < batchHeaderSize || h.size-batchHeaderSize < h.count:
		// Every record takes at least 4 bytes, so this bound is loose but safe.
		return h, fmt.Errorf("%w: length %d for %d records", ErrMalformed, h.size, h.count)
	case h.count < 1:
		return h, fmt.Errorf("%w: empty batch", ErrMalformed)
	case h.base < 0 || h.base > math.MaxInt64-int64(h.count):
		return h, fmt.Errorf("%w: base offset %d", ErrMalformed, h.base)
	case h.minTime > h.maxTime:
		return h, fmt.Errorf("%w: min time %d after max time %d", ErrMalformed, h.minTime, h.maxTime)
	}
	return h, nil
}

// checkCRC verifies the CRC of batch, which holds exactly one whole batch.
func checkCRC(batch []byte, h batchHeader) error {
	if got := crc32.Checksum(batch[crcStart:], castagnoli); got != h.crc {
		return fmt.Errorf("%w: stored %08x, computed %08x", ErrChecksum, h.crc, got)
	}
	return nil
}

// encodeBatches appends to dst the batches holding recs[i] for every i in
// sel (every record when sel is nil), in that order, with offsets from
// base. It sets Topic, Partition and Offset of those records, whose Time
// must already be set. Records go into one batch unless that would pass
// maxBatchBytes. It allocates only when dst must grow.
func encodeBatches(dst []byte, base int64, recs []log.Record, sel []int32, topic string, partition int) ([]byte, error) {
	n := len(recs)
	if sel != nil {
		n = len(sel)
	}
	at := func(i int) *log.Record {
		if sel != nil {
			return &recs[sel[i]]
		}
		return &recs[i]
	}
	for first := 0; first < n; {
		// Size the batch and find its time range.
		last, size := first, batchHeaderSize
		minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
		for ; last < n; last++ {
			r := at(last)
			rs := recordSizeBound(r)
			if rs > maxRecordBytes {
				return dst, fmt.Errorf("disk: record of %d bytes (key %d, value %d) is over the %d-byte limit", rs, len(r.Key), len(r.Value), maxRecordBytes)
			}
			if last > first && size+rs > maxBatchBytes {
				break
			}
			size += rs
			ts := r.Time.UnixNano()
			minT = min(minT, ts)
			maxT = max(maxT, ts)
		}
		start := len(dst)
		dst = grow(dst, size)
		dst = dst[:start+batchHeaderSize]
		h := dst[start:]
		binary.LittleEndian.PutUint32(h[12:], uint32(last-first))
		binary.LittleEndian.PutUint64(h[16:], uint64(base))
		binary.LittleEndian.PutUint64(h[24:], uint64(minT))
		binary.LittleEndian.PutUint64(h[32:], uint64(maxT))
		h[8], h[9], h[10], h[11] = batchMagic, 0, 0, 0
		for i := first; i < last; i++ {
			r := at(i)
			r.Topic, r.Partition, r.Offset = topic, partition, base
			base++
			dst = appendRecord(dst, r, minT)
		}
		b := dst[start:]
		binary.LittleEndian.PutUint32(b[0:], uint32(len(b)-lenFieldSize))
		binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[crcStart:], castagnoli))
		first = last
	}
	return dst, nil
}

// grow makes room for n more bytes in b.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}

// recordSizeBound is an upper bound of the encoded size of r.
func recordSizeBound(r *log.Record) int {
	n := 4*binary.MaxVarintLen64 + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += 2*binary.MaxVarintLen64 + len(h.Key) + len(h.Value)
	}
	return n
}

// appendRecord encodes one record; minTime is its batch's minimum time.
func appendRecord(dst []byte, r *log.Record, minTime int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(r.Time.UnixNano()-minTime))
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// appendBytes writes a zigzag varint length (-1 for nil) and the bytes.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// recordReader walks the records of one batch whose CRC was checked.
type recordReader struct {
	b    []byte // the records part of the batch
	pos  int
	h    batchHeader
	i    int // index of the next record in the batch
	span uint64
}

func newRecordReader(batch []byte, h batchHeader) recordReader {
	return recordReader{b: batch[batchHeaderSize:h.size], h: h, span: uint64(h.maxTime - h.minTime)}
}

// next decodes the next record into r (Topic and Partition are left alone).
// Key, Value and header values alias the batch. Header keys are strings and
// so are copied, but only when decodeHeaders is set; otherwise headers are
// skipped (and r.Headers left nil).
func (rr *recordReader) next(r *log.Record, decodeHeaders bool) error {
	if rr.i >= rr.h.count {
		return io.EOF
	}
	delta, err := rr.uvarint()
	if err != nil {
		return err
	}
	if delta > rr.span {
		return fmt.Errorf("%w: record %d time outside the batch's range", ErrMalformed, rr.i)
	}
	ts := rr.h.minTime + int64(delta)
	if r.Key, err = rr.bytes(); err != nil {
		return err
	}
	if r.Value, err = rr.bytes(); err != nil {
		return err
	}
	nh, err := rr.uvarint()
	if err != nil {
		return err
	}
	// Each header takes at least two bytes.
	if nh > uint64(len(rr.b)-rr.pos)/2 {
		return fmt.Errorf("%w: record %d claims %d headers", ErrMalformed, rr.i, nh)
	}
	r.Headers = nil
	if nh > 0 && decodeHeaders {
		r.Headers = make([]log.Header, nh)
	}
	for j := 0; j < int(nh); j++ {
		kl, err := rr.uvarint()
		if err != nil {
			return err
		}
		if kl > uint64(len(rr.b)-rr.pos) {
			return fmt.Errorf("%w: record %d header key runs past the batch", ErrMalformed, rr.i)
		}
		k := rr.b[rr.pos : rr.pos+int(kl)]
		rr.pos += int(kl)
		v, err := rr.bytes()
		if err != nil {
			return err
		}
		if decodeHeaders {
			r.Headers[j] = log.Header{Key: string(k), Value: v}
		}
	}
	r.Offset = rr.h.base + int64(rr.i)
	r.Time = time.Unix(0, ts)
	rr.i++
	if rr.i == rr.h.count && rr.pos != len(rr.b) {
		return fmt.Errorf("%w: %d bytes after the last record", ErrMalformed, len(rr.b)-rr.pos)
	}
	return nil
}

func (rr *recordReader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(rr.b[rr.pos:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: record %d: bad varint at byte %d of the records", ErrMalformed, rr.i, rr.pos)
	}
	rr.pos += n
	return v, nil
}

func (rr *recordReader) bytes() ([]byte, error) {
	l, n := binary.Varint(rr.b[rr.pos:])
	if n <= 0 || l < -1 {
		return nil, fmt.Errorf("%w: record %d: bad length at byte %d of the records", ErrMalformed, rr.i, rr.pos)
	}
	rr.pos += n
	if l == -1 {
		return nil, nil
	}
	if l > int64(len(rr.b)-rr.pos) {
		return nil, fmt.Errorf("%w: record %d: %d bytes run past the batch", ErrMalformed, rr.i, l)
	}
	b := rr.b[rr.pos : rr.pos+int(l) : rr.pos+int(l)]
	rr.pos += int(l)
	return b, nil
}

// validateBatch checks the CRC and the structure of every record of batch,
// which holds exactly one whole batch.
func validateBatch(batch []byte, h batchHeader) error {
	if err := checkCRC(batch, h); err != nil {
		return err
	}
	rr := newRecordReader(batch, h)
	var r log.Record
	for {
		err := rr.next(&r, false)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// decodeBatches decodes the whole batches at the start of b, checking each
// fully, and returns the records (aliasing b) and the length of the valid
// prefix. It stops at the first batch that is incomplete, malformed or
// fails its CRC, returning why as err (nil when b ends exactly after a
// batch). It is what recovery does to a segment's bytes, in one function.
func decodeBatches(b []byte) (recs []log.Record, valid int, err error) {
	for valid < len(b) {
		h, err := parseHeader(b[valid:])
		if err != nil {
			return recs, valid, err
		}
		if h.size > len(b)-valid {
			return recs, valid, io.ErrUnexpectedEOF
		}
		batch := b[valid : valid+h.size]
		if err := validateBatch(batch, h); err != nil {
			return recs, valid, err
		}
		rr := newRecordReader(batch, h)
		for {
			var r log.Record
			if err := rr.next(&r, true); err == io.EOF {
				break
			} else if err != nil {
				return recs, valid, err // unreachable: validateBatch passed
			}
			recs = append(recs, r)
		}
		valid += h.size
	}
	return recs, valid, nil
}
