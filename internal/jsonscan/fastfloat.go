package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// plainFloat reads the number at b[i:] when it is written in the plain
// decimal form -?(0|[1-9][0-9]*)(\.[0-9]+)?, with no exponent, at most 19
// digits in all, a value below 2⁵³ once the point is dropped and at most
// 22 digits after the point: the form almost every number a client sends
// takes, converted by one correctly rounded division (Clinger's fast path,
// the bits ParseNumber gives). It returns the byte after the number; ok
// is false, and nothing else meaningful, for any other input, which the
// general scanDecimal path then reads. It is scanDecimal specialised to
// bytes and to this form, with no generic dictionary and no branch for
// exponents or long mantissas, since Float runs it once per number of
// every request.
func plainFloat(b []byte, i int) (f float64, end int, ok bool) {
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	if i >= len(b) {
		return 0, 0, false
	}
	start := i
	var mant uint64
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i < len(b) {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			mant = mant*10 + uint64(d)
			i++
			if i-start > 19 {
				return 0, 0, false
			}
		}
	default:
		return 0, 0, false
	}
	digits := i - start
	frac := 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		more := true // digits may follow what digits8 read
		if len(b)-i >= 8 && digits <= 19-8 {
			v, n := digits8(b[i : i+8])
			mant = mant*pow10u[n] + v
			i += n
			more = n == 8
		}
		for more && i < len(b) {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			mant = mant*10 + uint64(d)
			i++
			if digits+i-fs > 19 {
				return 0, 0, false
			}
		}
		frac = i - fs
		if frac == 0 || frac > 22 {
			return 0, 0, false
		}
	}
	if i < len(b) && numberByte[b[i]] || mant>>53 != 0 {
		return 0, 0, false // an exponent, a malformed number, or too many bits
	}
	f = float64(mant)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, i, true
}

// numberByte is isNumberByte as a table, for plainFloat's last check.
var numberByte = func() (t [256]bool) {
	for c := range t {
		t[c] = isNumberByte(byte(c))
	}
	return t
}()

// digits8 converts the leading digits of e, at most eight, to their value
// (SWAR, as eights does) and returns how many there were.
func digits8(e []byte) (uint64, int) {
	x := binary.LittleEndian.Uint64(e)
	v := x - 0x3030303030303030
	bad := (v | (x + 0x4646464646464646)) & 0x8080808080808080
	n := bits.TrailingZeros64(bad) >> 3
	if n == 0 {
		return 0, 0
	}
	v <<= 8 * (8 - n)
	v = (v & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
	v = (v & 0x00FF00FF00FF00FF) * 6553601 >> 16
	v = (v & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
	return v, n
}

// Keys are object keys a decoder expects in a known order, each as
// PlainKey writes it, prepared for PlainMembers: a key of at most eight
// bytes is compared as one word.
type Keys struct {
	quoted []string
	head   []uint64 // quoted[k]'s bytes, little-endian, when it has at most eight
	mask   []uint64 // the bytes of a word head[k] covers; 0 for a longer key
}

// NewKeys prepares keys (each a PlainKey) for PlainMembers.
func NewKeys(quoted []string) Keys {
	ks := Keys{quoted: quoted, head: make([]uint64, len(quoted)), mask: make([]uint64, len(quoted))}
	for k, q := range quoted {
		if len(q) > 8 {
			continue
		}
		for i := range len(q) {
			ks.head[k] |= uint64(q[i]) << (8 * i)
			ks.mask[k] |= 0xFF << (8 * i)
		}
	}
	return ks
}

// Len is the number of keys.
func (ks Keys) Len() int { return len(ks.quoted) }

// Prefix is the first n keys.
func (ks Keys) Prefix(n int) Keys {
	return Keys{quoted: ks.quoted[:n], head: ks.head[:n], mask: ks.mask[:n]}
}

// PlainMembers reads, in the object the scanner is in, members whose keys
// come in the order of keys and whose values are numbers of the plain
// form Float reads first (-ddd.ddd, no exponent, at most 19 digits): the
// member that n members were read before (its ',' included when n > 0)
// has the first key, the next the second, and so on. It stores the k-th
// value in dst[k] and returns how many members it read, stopping before
// the first member that is not so (another key, one written with escapes,
// another kind of value or number, the end of the object, or malformed
// input), which Next, Key and Float then read and report. What it stores
// is what NextKeyIs then Float would, member by member: it is their loop
// with nothing in between, for a decoder reading many numeric fields in a
// known order. It is one function, longer than most, because it runs once
// per field of every served row and every call in it showed.
func (s *Scanner) PlainMembers(n int, keys Keys, dst []float64) int {
	b, pos := s.b, s.pos
	quoted, head, mask := keys.quoted, keys.head[:len(keys.quoted)], keys.mask[:len(keys.quoted)]
	dst = dst[:len(quoted)]
	k := 0
members:
	for ; k < len(quoted); k++ {
		// The ',', the key and the ':'.
		i := skipWS(b, pos)
		if n+k > 0 {
			if i >= len(b) || b[i] != ',' {
				break
			}
			i = skipWS(b, i+1)
		}
		key := quoted[k]
		if len(b)-i <= len(key) {
			break
		}
		if m := mask[k]; m != 0 && len(b)-i >= 8 {
			if binary.LittleEndian.Uint64(b[i:])&m != head[k] {
				break
			}
		} else if string(b[i:i+len(key)]) != key {
			break
		}
		i = skipWS(b, i+len(key))
		if i == len(b) || b[i] != ':' {
			break
		}
		i = skipWS(b, i+1)
		// The number: plainFloat's body, written out here (a call cost a
		// tenth of a member); FuzzPlainMembers checks the two agree.
		neg := false
		if i < len(b) && b[i] == '-' {
			neg = true
			i++
		}
		if i >= len(b) {
			break members
		}
		start := i
		var mant uint64
		switch c := b[i]; {
		case c == '0':
			i++
		case '1' <= c && c <= '9':
			for i < len(b) {
				d := b[i] - '0'
				if d > 9 {
					break
				}
				mant = mant*10 + uint64(d)
				i++
				if i-start > 19 {
					break members
				}
			}
		default:
			break members
		}
		digits := i - start
		frac := 0
		if i < len(b) && b[i] == '.' {
			i++
			fs := i
			more := true // digits may follow what digits8 read
			if len(b)-i >= 8 && digits <= 19-8 {
				v, n := digits8(b[i : i+8])
				mant = mant*pow10u[n] + v
				i += n
				more = n == 8
			}
			for more && i < len(b) {
				d := b[i] - '0'
				if d > 9 {
					break
				}
				mant = mant*10 + uint64(d)
				i++
				if digits+i-fs > 19 {
					break members
				}
			}
			frac = i - fs
			if frac == 0 || frac > 22 {
				break members
			}
		}
		if i < len(b) && numberByte[b[i]] || mant>>53 != 0 {
			break members // an exponent, a malformed number, or too many bits
		}
		f := float64(mant)
		if frac > 0 {
			f /= pow10[frac]
		}
		if neg {
			f = -f
		}
		dst[k], pos = f, i
	}
	s.pos = pos
	return k
}
