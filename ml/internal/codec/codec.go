// Package codec writes and reads the fields of checkpoint-state payloads
// (the part inside the envelope of ml.AppendState): little-endian integers
// and IEEE 754 float64 bits, strings of at most 255 bytes behind a one-byte
// length, and float64 slices behind a uint32 count.
//
// A Reader remembers its first error, so a decoder reads every field and
// checks once. It checks each length against the bytes left before it
// allocates, so no input makes a decoder allocate more than the input's
// size, and it accepts only the bytes a Writer produces (a bool is 0 or 1,
// an int fits the platform's int), so that decoding and re-encoding a state
// gives back the same bytes.
package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Writer appends fields to a byte slice.
type Writer struct{ B []byte }

// U8 appends one byte.
func (w *Writer) U8(v uint8) { w.B = append(w.B, v) }

// U32 appends a uint32.
func (w *Writer) U32(v uint32) { w.B = binary.LittleEndian.AppendUint32(w.B, v) }

// U64 appends a uint64.
func (w *Writer) U64(v uint64) { w.B = binary.LittleEndian.AppendUint64(w.B, v) }

// Int appends a non-negative int as a uint64. It panics on a negative
// value, which no encoder of a valid state writes.
func (w *Writer) Int(v int) {
	if v < 0 {
		panic(fmt.Sprintf("codec: Int(%d): negative", v))
	}
	w.U64(uint64(v))
}

// Bool appends 1 or 0.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// F64 appends a float64's bits.
func (w *Writer) F64(v float64) { w.U64(math.Float64bits(v)) }

// F64s appends len(v) as a uint32, then the values.
func (w *Writer) F64s(v []float64) {
	if uint64(len(v)) > math.MaxUint32 {
		panic(fmt.Sprintf("codec: F64s: %d values do not fit a uint32 count", len(v)))
	}
	w.U32(uint32(len(v)))
	w.F64sN(v)
}

// F64sN appends the values without a count, for a length the reader knows.
func (w *Writer) F64sN(v []float64) {
	for _, x := range v {
		w.F64(x)
	}
}

// String appends len(s) as one byte, then s. It panics on a string longer
// than 255 bytes; the strings of a state are names the encoder checked.
func (w *Writer) String(s string) {
	if len(s) > 255 {
		panic(fmt.Sprintf("codec: String: %d bytes, more than 255", len(s)))
	}
	w.U8(uint8(len(s)))
	w.B = append(w.B, s...)
}

// Reader reads fields in order, remembering the first error.
type Reader struct {
	b    []byte
	off  int
	what string
	err  error
}

// NewReader reads b; what names the encoding in errors, e.g.
// "kmeans: checkpoint state".
func NewReader(b []byte, what string) *Reader { return &Reader{b: b, what: what} }

// Err returns the first error.
func (r *Reader) Err() error { return r.err }

// Failf records an error (unless one is recorded already), prefixed with
// the encoding's name and the byte offset reached.
func (r *Reader) Failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: at byte %d: %s", r.what, r.off, fmt.Sprintf(format, args...))
	}
}

// Done fails if bytes are left over, and returns the first error.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("%s: %d unexpected bytes after the last field", r.what, len(r.b)-r.off)
	}
	return r.err
}

func (r *Reader) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = fmt.Errorf("%s: truncated at byte %d: want %d more bytes, have %d", r.what, r.off, n, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if s := r.next(1); s != nil {
		return s[0]
	}
	return 0
}

// U32 reads a uint32.
func (r *Reader) U32() uint32 {
	if s := r.next(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

// U64 reads a uint64.
func (r *Reader) U64() uint64 {
	if s := r.next(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

// Int reads what Writer.Int wrote, failing on a value that does not fit
// an int.
func (r *Reader) Int(name string) int {
	v := r.U64()
	if v > math.MaxInt {
		r.Failf("%s %d does not fit an int", name, v)
		return 0
	}
	return int(v)
}

// Bool reads a byte that must be 0 or 1.
func (r *Reader) Bool(name string) bool {
	switch v := r.U8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Failf("%s is %d, want 0 or 1", name, v)
		return false
	}
}

// F64 reads a float64.
func (r *Reader) F64() float64 { return math.Float64frombits(r.U64()) }

// F64s reads what Writer.F64s wrote. An empty slice reads as nil.
func (r *Reader) F64s() []float64 { return r.F64sN(int(r.U32())) }

// F64sN reads n float64s, checking that they are there before allocating.
// n = 0 gives nil.
func (r *Reader) F64sN(n int) []float64 {
	if r.err != nil || n == 0 {
		return nil
	}
	if n < 0 || n > (len(r.b)-r.off)/8 {
		r.err = fmt.Errorf("%s: truncated at byte %d: want %d float64 values, have %d bytes", r.what, r.off, n, len(r.b)-r.off)
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off+8*i:]))
	}
	r.off += 8 * n
	return v
}

// String reads what Writer.String wrote.
func (r *Reader) String() string {
	n := r.U8()
	return string(r.next(int(n)))
}
