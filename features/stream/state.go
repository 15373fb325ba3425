package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// State is one key's aggregation state: its stream time (the latest event
// time applied), counters, and flat slabs of bucket cells and HyperLogLog
// registers laid out by the Aggregator that made it. It encodes itself
// with Aggregator.AppendState, so a processor can keep it in a store and a
// changelog.
type State struct {
	time    int64
	applied uint64
	late    uint64
	dropped uint64
	cells   []float64
	regs    []uint8
}

// Time returns the stream time and whether any event has been applied.
func (s *State) Time() (int64, bool) { return s.time, s.applied > 0 }

// Counts returns how many events were applied (late ones included), how
// many of them were late, and how many were dropped.
func (s *State) Counts() (applied, late, dropped uint64) { return s.applied, s.late, s.dropped }

// Reset empties the state for reuse by another key.
func (s *State) Reset() {
	s.time, s.applied, s.late, s.dropped = 0, 0, 0, 0
	clear(s.cells)
	clear(s.regs)
}

// The encoding, version 1, all integers varints unless said:
//
//	"FLST" | version byte | layout fingerprint (8 bytes, little-endian)
//	| stream time (signed) | applied | late | dropped
//	| cells as runs: zeros, literals, literals × 8 bytes (float64 bits, LE)
//	| registers as runs: zeros, literals, literals × 1 byte
//
// The fingerprint hashes the features' aggregates, windows and precisions
// in order, so a state is never read under a definition it was not
// written for.
const (
	stateMagic   = "FLST"
	stateVersion = 1
)

// AppendState appends the encoding of s to dst.
func (a *Aggregator) AppendState(dst []byte, s *State) []byte {
	dst = append(dst, stateMagic...)
	dst = append(dst, stateVersion)
	dst = binary.LittleEndian.AppendUint64(dst, a.fingerprint)
	dst = binary.AppendVarint(dst, s.time)
	dst = binary.AppendUvarint(dst, s.applied)
	dst = binary.AppendUvarint(dst, s.late)
	dst = binary.AppendUvarint(dst, s.dropped)
	for i := 0; i < len(s.cells); {
		z := i
		for z < len(s.cells) && math.Float64bits(s.cells[z]) == 0 {
			z++
		}
		l := z
		for l < len(s.cells) && math.Float64bits(s.cells[l]) != 0 {
			l++
		}
		dst = binary.AppendUvarint(dst, uint64(z-i))
		dst = binary.AppendUvarint(dst, uint64(l-z))
		for _, c := range s.cells[z:l] {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(c))
		}
		i = l
	}
	for i := 0; i < len(s.regs); {
		z := i
		for z < len(s.regs) && s.regs[z] == 0 {
			z++
		}
		l := z
		for l < len(s.regs) && s.regs[l] != 0 {
			l++
		}
		dst = binary.AppendUvarint(dst, uint64(z-i))
		dst = binary.AppendUvarint(dst, uint64(l-z))
		dst = append(dst, s.regs[z:l]...)
		i = l
	}
	return dst
}

// stateReader reads an encoded state, keeping the first error.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("stream: the encoded state is cut short or malformed in its %s", what)
	}
}

func (r *stateReader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// runs reads run-coded literals into n slots, each size bytes, calling put
// with each literal's bytes at its index.
func (r *stateReader) runs(n, size int, what string, put func(i int, b []byte)) {
	for i := 0; i < n && r.err == nil; {
		z, l := r.uvarint(what), r.uvarint(what)
		if r.err != nil || z+l == 0 || z > uint64(n-i) || l > uint64(n-i)-z || l*uint64(size) > uint64(len(r.b)) {
			r.fail(what)
			return
		}
		i += int(z)
		for ; l > 0; l-- {
			put(i, r.b[:size])
			r.b, i = r.b[size:], i+1
		}
	}
}

// DecodeState decodes a state that AppendState encoded under the same
// definition layout.
func (a *Aggregator) DecodeState(b []byte) (*State, error) {
	if len(b) < len(stateMagic)+9 || string(b[:len(stateMagic)]) != stateMagic {
		return nil, errors.New("stream: the encoded state does not start with the state header")
	}
	if v := b[len(stateMagic)]; v != stateVersion {
		return nil, fmt.Errorf("stream: the encoded state is version %d; this build reads version %d", v, stateVersion)
	}
	if fp := binary.LittleEndian.Uint64(b[len(stateMagic)+1:]); fp != a.fingerprint {
		return nil, fmt.Errorf("stream: the encoded state was written for another layout of definition %q (fingerprint %016x, want %016x): rebuild it from the log",
			a.def.Name, fp, a.fingerprint)
	}
	r := &stateReader{b: b[len(stateMagic)+9:]}
	s := a.NewState()
	t, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("stream time")
	} else {
		r.b, s.time = r.b[n:], t
	}
	s.applied, s.late, s.dropped = r.uvarint("counters"), r.uvarint("counters"), r.uvarint("counters")
	r.runs(len(s.cells), 8, "cells", func(i int, b []byte) { s.cells[i] = math.Float64frombits(binary.LittleEndian.Uint64(b)) })
	r.runs(len(s.regs), 1, "registers", func(i int, b []byte) { s.regs[i] = b[0] })
	switch {
	case r.err != nil:
		return nil, r.err
	case len(r.b) > 0:
		return nil, fmt.Errorf("stream: the encoded state has %d bytes after its end", len(r.b))
	case s.time > MaxTime || s.time < -MaxTime || s.applied == 0 && s.time != 0:
		return nil, fmt.Errorf("stream: the encoded state's stream time %d is out of range", s.time)
	}
	for _, f := range a.feats {
		for _, r := range s.regs[f.reg : f.reg+int(f.nb)*f.m] {
			if r > 65-f.p {
				return nil, fmt.Errorf("stream: the encoded state has a register of %d in a HyperLogLog of precision %d; at most %d", r, f.p, 65-f.p)
			}
		}
	}
	return s, nil
}
