package als

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// The binary encoding, little-endian throughout:
//
//	magic "FLNTMODL" | version uint16 | kind length uint8 | kind "als" | payload | CRC-32C uint32
//
// The CRC (Castagnoli) covers every byte before it. Version 3's payload:
//
//	Rank uint32 | flags uint8 (1: implicit, 2: rated items kept, 4: rating range, 8: biases, 16: user names, 32: item names)
//	| cold-start length uint8 | cold start
//	| (flag 4) RatingMin float64 | RatingMax float64
//	| users uint64 | items uint64 | UserIDs int64… | ItemIDs int64… | UserFactors float64… | ItemFactors float64…
//	| (flag 2) RatedPtr (users+1)×int64 | RatedItems RatedPtr[users]×int32
//	| (flag 8) GlobalMean float64 | UserBiases users×float64 | ItemBiases items×float64
//	| (flag 16) UserKeys users×(length uint32 | bytes) | (flag 32) ItemKeys items×(length uint32 | bytes)
//
// Version 2 is version 3 without flags 8, 16 and 32, version 1 version 2
// without flag 4; both are still read.
const (
	magic   = "FLNTMODL"
	kind    = "als"
	version = 3
)

// flagsOf lists which optional sections version ver may hold.
func flagsOf(ver uint16) byte {
	switch ver {
	case 1:
		return 1 | 2
	case 2:
		return 1 | 2 | 4
	}
	return 1 | 2 | 4 | 8 | 16 | 32
}

// ErrVersion reports an encoding written by a newer (or unknown) version
// of the format.
var ErrVersion = errors.New("als: unsupported model encoding version")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (m *Model) check() error {
	nu, ni := len(m.UserIDs), len(m.ItemIDs)
	switch {
	case m.Rank < 1:
		return fmt.Errorf("als: malformed model: Rank %d", m.Rank)
	case len(m.UserFactors) != nu*m.Rank || len(m.ItemFactors) != ni*m.Rank:
		return fmt.Errorf("als: malformed model: %d and %d factor values for %d users, %d items of rank %d",
			len(m.UserFactors), len(m.ItemFactors), nu, ni, m.Rank)
	case len(m.ColdStart) > 255:
		return errors.New("als: malformed model: ColdStart too long")
	case m.HasRatingRange && (!(m.RatingMin <= m.RatingMax) || math.IsInf(m.RatingMin, 0) || math.IsInf(m.RatingMax, 0)):
		return fmt.Errorf("als: malformed model: rating range [%v, %v]", m.RatingMin, m.RatingMax)
	}
	for _, ids := range [][]int64{m.UserIDs, m.ItemIDs} {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				return fmt.Errorf("als: malformed model: ids not increasing at position %d (%d after %d)", i, ids[i], ids[i-1])
			}
		}
	}
	if m.Biased && (len(m.UserBiases) != nu || len(m.ItemBiases) != ni) {
		return fmt.Errorf("als: malformed model: %d user and %d item biases for %d users, %d items", len(m.UserBiases), len(m.ItemBiases), nu, ni)
	}
	if err := m.checkKeys(); err != nil {
		return err
	}
	if m.RatedPtr == nil && m.RatedItems == nil {
		return nil
	}
	if len(m.RatedPtr) != nu+1 || m.RatedPtr[0] != 0 || m.RatedPtr[nu] != int64(len(m.RatedItems)) {
		return fmt.Errorf("als: malformed model: rated items pointer of %d entries for %d users", len(m.RatedPtr), nu)
	}
	for u := range nu {
		if m.RatedPtr[u+1] < m.RatedPtr[u] {
			return fmt.Errorf("als: malformed model: rated items of user position %d have negative length", u)
		}
		prev := int32(-1)
		for _, it := range m.RatedItems[m.RatedPtr[u]:m.RatedPtr[u+1]] {
			if it <= prev || int(it) >= ni {
				return fmt.Errorf("als: malformed model: rated item position %d of user position %d is out of order or range", it, u)
			}
			prev = it
		}
	}
	return nil
}

// MarshalBinary encodes the model in the versioned format above.
func (m *Model) MarshalBinary() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	nu, ni := len(m.UserIDs), len(m.ItemIDs)
	size := len(magic) + 3 + len(kind) + 4 + 2 + len(m.ColdStart) + 16 + 8*(nu+ni) + 8*(len(m.UserFactors)+len(m.ItemFactors)) + 4
	var flags byte
	if m.Implicit {
		flags |= 1
	}
	if m.RatedPtr != nil {
		flags |= 2
		size += 8*len(m.RatedPtr) + 4*len(m.RatedItems)
	}
	if m.HasRatingRange {
		flags |= 4
		size += 16
	}
	if m.Biased {
		flags |= 8
		size += 8 * (1 + nu + ni)
	}
	for i, keys := range [][]string{m.UserKeys, m.ItemKeys} {
		if keys != nil {
			flags |= 16 << i
		}
		for _, k := range keys {
			size += 4 + len(k)
		}
	}
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	b = append(b, magic...)
	b = le.AppendUint16(b, version)
	b = append(b, byte(len(kind)))
	b = append(b, kind...)
	b = le.AppendUint32(b, uint32(m.Rank))
	b = append(b, flags, byte(len(m.ColdStart)))
	b = append(b, m.ColdStart...)
	if flags&4 != 0 {
		b = le.AppendUint64(b, math.Float64bits(m.RatingMin))
		b = le.AppendUint64(b, math.Float64bits(m.RatingMax))
	}
	b = le.AppendUint64(b, uint64(nu))
	b = le.AppendUint64(b, uint64(ni))
	for _, ids := range [][]int64{m.UserIDs, m.ItemIDs} {
		for _, v := range ids {
			b = le.AppendUint64(b, uint64(v))
		}
	}
	for _, f := range [][]float64{m.UserFactors, m.ItemFactors} {
		for _, v := range f {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
	}
	if flags&2 != 0 {
		for _, v := range m.RatedPtr {
			b = le.AppendUint64(b, uint64(v))
		}
		for _, v := range m.RatedItems {
			b = le.AppendUint32(b, uint32(v))
		}
	}
	if flags&8 != 0 {
		b = le.AppendUint64(b, math.Float64bits(m.GlobalMean))
		for _, f := range [][]float64{m.UserBiases, m.ItemBiases} {
			for _, v := range f {
				b = le.AppendUint64(b, math.Float64bits(v))
			}
		}
	}
	for _, keys := range [][]string{m.UserKeys, m.ItemKeys} {
		for _, k := range keys {
			b = le.AppendUint32(b, uint32(len(k)))
			b = append(b, k...)
		}
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// reader reads the payload, remembering the first shortfall.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errors.New("als: model encoding truncated")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// ints reads n int64s (fewer when the encoding is short: r.err is set).
func (r *reader) ints(n uint64) []int64 {
	b := r.take(8 * n)
	s := make([]int64, 0, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		s = append(s, int64(binary.LittleEndian.Uint64(b[i:])))
	}
	return s
}

// floats reads n float64s (fewer when the encoding is short).
func (r *reader) floats(n uint64) []float64 {
	b := r.take(8 * n)
	s := make([]float64, 0, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		s = append(s, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
	}
	return s
}

// strings reads n length-prefixed strings.
func (r *reader) strings(n uint64) []string {
	if r.err == nil && n > uint64(len(r.b))/4 {
		r.err = fmt.Errorf("als: model encoding lists %d names in %d bytes", n, len(r.b))
	}
	if r.err != nil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		b := r.take(4)
		if b == nil {
			return nil
		}
		out[i] = string(r.take(uint64(binary.LittleEndian.Uint32(b))))
	}
	return out
}

// UnmarshalBinary decodes a model MarshalBinary encoded, replacing m. It
// fails on another kind of model, a bad checksum, a truncated or
// inconsistent encoding, and (with ErrVersion) a version this build does
// not know.
func (m *Model) UnmarshalBinary(data []byte) error {
	ver, payload, err := parseHeader(data)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	r := &reader{b: payload}
	var out Model
	if b := r.take(4); b != nil {
		out.Rank = int(le.Uint32(b))
	}
	flags := r.take(2)
	if flags == nil {
		return r.err
	}
	if extra := flags[0] &^ flagsOf(ver); extra != 0 {
		return fmt.Errorf("als: malformed model: a version %d encoding with flags %#x it cannot have", ver, extra)
	}
	out.Implicit = flags[0]&1 != 0
	out.ColdStart = string(r.take(uint64(flags[1])))
	if flags[0]&4 != 0 {
		out.HasRatingRange = true
		out.RatingMin, out.RatingMax = math.Float64frombits(r.u64()), math.Float64frombits(r.u64())
	}
	nu, ni := r.u64(), r.u64()
	rank := uint64(out.Rank)
	if words := uint64(len(r.b)) / 8; r.err == nil && (rank == 0 || nu > words || ni > words || nu+ni > words/rank) {
		return fmt.Errorf("als: model encoding of %d users, %d items at rank %d does not fit its %d bytes", nu, ni, rank, len(r.b))
	}
	out.UserIDs, out.ItemIDs = r.ints(nu), r.ints(ni)
	out.UserFactors, out.ItemFactors = r.floats(nu*rank), r.floats(ni*rank)
	if flags[0]&2 != 0 {
		out.RatedPtr = r.ints(nu + 1)
		if r.err == nil {
			nnz := uint64(out.RatedPtr[nu])
			if nnz > uint64(len(r.b))/4 {
				return fmt.Errorf("als: model encoding lists %d rated items in %d bytes", nnz, len(r.b))
			}
			b := r.take(4 * nnz)
			out.RatedItems = make([]int32, nnz)
			for i := range out.RatedItems {
				out.RatedItems[i] = int32(le.Uint32(b[4*i:]))
			}
		}
	}
	if flags[0]&8 != 0 {
		out.Biased = true
		out.GlobalMean = math.Float64frombits(r.u64())
		out.UserBiases, out.ItemBiases = r.floats(nu), r.floats(ni)
	}
	if flags[0]&16 != 0 {
		out.UserKeys = r.strings(nu)
	}
	if flags[0]&32 != 0 {
		out.ItemKeys = r.strings(ni)
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("als: model encoding has %d bytes after its payload", len(r.b))
	}
	if err := out.check(); err != nil {
		return err
	}
	*m = out
	return nil
}

// parseHeader checks an encoding's magic, kind, version and checksum, and
// returns its version and payload.
func parseHeader(data []byte) (uint16, []byte, error) {
	hdr := len(magic) + 3
	if len(data) < hdr || string(data[:len(magic)]) != magic {
		return 0, nil, errors.New("als: not a Flint model encoding (bad magic)")
	}
	le := binary.LittleEndian
	ver := le.Uint16(data[len(magic):])
	kl := int(data[len(magic)+2])
	if len(data) < hdr+kl {
		return 0, nil, errors.New("als: model encoding truncated in its header")
	}
	if k := string(data[hdr : hdr+kl]); k != kind {
		return 0, nil, fmt.Errorf("als: the encoding holds a %q model, not %q", k, kind)
	}
	if ver < 1 || ver > version {
		return 0, nil, fmt.Errorf("%w %d: this build reads versions 1 to %d", ErrVersion, ver, version)
	}
	if len(data) < hdr+kl+4 {
		return 0, nil, errors.New("als: model encoding truncated")
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != le.Uint32(data[len(data)-4:]) {
		return 0, nil, errors.New("als: model encoding is corrupt (checksum mismatch)")
	}
	return ver, body[hdr+kl:], nil
}
