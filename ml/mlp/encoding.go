package mlp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// The binary encoding of a Model, version 1. Integers are little-endian.
//
//	magic    [4]byte  "FLNT"
//	version  uint16   1
//	kind     uint8 n, n bytes   "mlp"
//	act      uint8 n, n bytes   "relu", "tanh" or "sigmoid"
//	output   uint8 n, n bytes   "softmax" or "identity"
//	layers   uint32   number of layer sizes, L ≥ 2
//	sizes    L × uint32
//	params   uint64 n, then n × float64 (IEEE 754 bits), as Model.Params
//	crc      uint32   CRC-32C of every byte before it
const (
	encodingMagic   = "FLNT"
	encodingVersion = 1
	encodingKind    = "mlp"
)

// ErrEncoding is wrapped by every error UnmarshalBinary returns.
var ErrEncoding = errors.New("mlp: bad model encoding")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the model in the versioned format above.
func (m *Model) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 64+4*len(m.Sizes)+8*len(m.Params))
	b = append(b, encodingMagic...)
	b = binary.LittleEndian.AppendUint16(b, encodingVersion)
	for _, s := range []string{encodingKind, string(m.Activation), string(m.Output)} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Sizes)))
	for _, s := range m.Sizes {
		b = binary.LittleEndian.AppendUint32(b, uint32(s))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(m.Params)))
	for _, p := range m.Params {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// UnmarshalBinary decodes a model MarshalBinary encoded, replacing m's
// fields. Errors wrap ErrEncoding and say what was wrong and where.
func (m *Model) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if magic := d.bytes(4); string(magic) != encodingMagic {
		return fmt.Errorf("%w: magic %q, want %q", ErrEncoding, magic, encodingMagic)
	}
	if v := d.u16(); v != encodingVersion {
		if d.err != nil {
			return d.err
		}
		return fmt.Errorf("%w: format version %d is not supported (this build reads version %d)", ErrEncoding, v, encodingVersion)
	}
	if len(data) < 4 {
		return fmt.Errorf("%w: truncated", ErrEncoding)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return fmt.Errorf("%w: checksum %08x, want %08x (corrupt or truncated, %d bytes)", ErrEncoding, got, sum, len(data))
	}
	d.b = body
	if kind := d.str(); kind != encodingKind && d.err == nil {
		return fmt.Errorf("%w: model kind %q, want %q", ErrEncoding, kind, encodingKind)
	}
	act, out := Activation(d.str()), Output(d.str())
	nl := d.u32()
	if d.err == nil && (nl < 2 || uint64(nl) > uint64(len(d.b)-d.off)/4) {
		return fmt.Errorf("%w: %d layer sizes at byte %d", ErrEncoding, nl, d.off-4)
	}
	var sizes []int
	for i := uint32(0); i < nl && d.err == nil; i++ {
		sizes = append(sizes, int(d.u32()))
	}
	np := d.u64()
	if d.err == nil && np != uint64(len(d.b)-d.off)/8 {
		return fmt.Errorf("%w: %d parameters declared at byte %d, but %d bytes follow", ErrEncoding, np, d.off-8, len(d.b)-d.off)
	}
	if d.err != nil {
		return d.err
	}
	params := make([]float64, np)
	for i := range params {
		params[i] = math.Float64frombits(d.u64())
	}
	if d.err != nil {
		return d.err
	}
	if d.off != len(d.b) {
		return fmt.Errorf("%w: %d unexpected bytes after the parameters", ErrEncoding, len(d.b)-d.off)
	}
	dec := Model{Sizes: sizes, Activation: act, Output: out, Params: params}
	if err := dec.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrEncoding, err)
	}
	*m = dec
	return nil
}

// decoder reads fields in order, remembering the first short read.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.off < n {
		d.err = fmt.Errorf("%w: truncated at byte %d (need %d more bytes, %d left)", ErrEncoding, d.off, n, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) u16() uint16 {
	if s := d.bytes(2); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if s := d.bytes(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if s := d.bytes(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (d *decoder) str() string {
	n := d.bytes(1)
	if n == nil {
		return ""
	}
	return string(d.bytes(int(n[0])))
}
