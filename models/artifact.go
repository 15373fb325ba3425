package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"
)

// Magic is the first eight bytes of every artefact.
const Magic = "FLINTMDL"

// FormatVersion is the artefact format this package writes and the only one
// it reads.
const FormatVersion = 1

// Errors carried by a *FormatError.
var (
	ErrBadMagic       = errors.New("models: not a Flint model artifact (bad magic)")
	ErrUnknownVersion = errors.New("models: unknown artifact format version")
	ErrChecksum       = errors.New("models: artifact checksum mismatch")
	ErrMalformed      = errors.New("models: malformed artifact")
)

// FormatError is an artefact that cannot be decoded. Err is ErrBadMagic,
// ErrUnknownVersion, ErrChecksum, ErrMalformed or io.ErrUnexpectedEOF (the
// artefact is truncated).
type FormatError struct {
	What   string // the part that is wrong, e.g. "header", `section "metrics"`
	Offset int64  // byte position where the problem was found
	Err    error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("models: bad artifact: %s at byte %d: %v", e.What, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// Artifact is one trained model: everything needed to serve it and to know
// how it was made. The registry stores it as an opaque, checksummed blob in
// the layout documented in doc.go.
type Artifact struct {
	// Algorithm names the algorithm that encoded Params, e.g. "logreg".
	// Required.
	Algorithm string
	// FlintVersion is the version of the Flint that trained the model.
	FlintVersion string
	// Created is when training finished; Publish sets it to the current
	// time when it is zero. Stored with nanosecond precision, in UTC.
	Created time.Time
	// Pipeline is the fitted feature pipeline, as features encodes it.
	Pipeline []byte
	// Params are the model parameters, as the algorithm encodes them.
	Params []byte
	// Metrics are evaluation results, e.g. {"auc": 0.91}. Any float64,
	// NaN and infinities included, round-trips exactly.
	Metrics map[string]float64
	// Spec is the training job spec, as YAML text.
	Spec string
	// Lineage is the data the model was trained on.
	Lineage []Source
	// Extra holds further named sections. Decode puts sections it does not
	// know here, so an artefact written by a newer Flint with additions
	// re-encodes unchanged. Names follow the section-name rule in doc.go
	// and must not be one of the built-in sections.
	Extra map[string][]byte
}

// Source is one input the model was trained on, as cluster.Source records
// it: a log partition's offsets [From, To), or a file's bytes [From, To)
// (To == -1: to the end).
type Source struct {
	Kind      string // "log" or "file"
	Topic     string // log: the topic
	Partition int    // log: the partition
	Path      string // file: the path
	From, To  int64
}

func (s Source) String() string {
	if s.Kind == "log" {
		return fmt.Sprintf("log %s/%d offsets [%d, %d)", s.Topic, s.Partition, s.From, s.To)
	}
	return fmt.Sprintf("%s %s bytes [%d, %d)", s.Kind, s.Path, s.From, s.To)
}

// The built-in sections, in the order they are written.
var builtinSections = [...]string{"pipeline", "params", "metrics", "spec", "lineage"}

const (
	headerFixed  = 8 + 2 + 2 + 8 // magic, version, flags, total length
	trailerSize  = sha256.Size
	maxSectName  = 64
	minArtifact  = headerFixed + 4 + 4 + 8 + 4 + trailerSize
	offsetLength = 12 // where the total length sits
)

// Encode writes a in the artefact format to w.
func (a *Artifact) Encode(w io.Writer) error {
	b, err := a.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Decode reads a whole artefact from r, verifies its checksum and decodes
// it. A problem with the bytes is a *FormatError.
func Decode(r io.Reader) (*Artifact, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("models: read artifact: %w", err)
	}
	a := new(Artifact)
	if err := a.unmarshal(b, false); err != nil {
		return nil, err
	}
	return a, nil
}

// MarshalBinary encodes a. Encoding is deterministic: metrics and extra
// sections are written sorted by name, so equal artefacts give equal bytes.
func (a *Artifact) MarshalBinary() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	var created int64
	if !a.Created.IsZero() {
		created = a.Created.UnixNano()
	}
	metrics := encodeMetrics(a.Metrics)
	lineage := encodeLineage(a.Lineage)
	bodies := [][]byte{a.Pipeline, a.Params, metrics, []byte(a.Spec), lineage}
	names := builtinSections[:]
	extra := slices.Sorted(maps.Keys(a.Extra))
	for _, n := range extra {
		names = append(names[:len(names):len(names)], n)
		bodies = append(bodies, a.Extra[n])
	}
	size := minArtifact + len(a.Algorithm) + len(a.FlintVersion)
	for i, body := range bodies {
		size += 1 + len(names[i]) + 8 + len(body)
	}
	b := make([]byte, 0, size)
	b = append(b, Magic...)
	b = binary.LittleEndian.AppendUint16(b, FormatVersion)
	b = binary.LittleEndian.AppendUint16(b, 0) // flags
	b = binary.LittleEndian.AppendUint64(b, uint64(size))
	b = appendString(b, a.Algorithm)
	b = appendString(b, a.FlintVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(created))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(bodies)))
	for i, body := range bodies {
		b = append(b, byte(len(names[i])))
		b = append(b, names[i]...)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(body)))
		b = append(b, body...)
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:]...)
	if len(b) != size {
		panic(fmt.Sprintf("models: encoded %d bytes, computed %d", len(b), size)) // a bug here, not bad input
	}
	return b, nil
}

func (a *Artifact) check() error {
	switch {
	case a.Algorithm == "":
		return errors.New("models: encode artifact: Algorithm is empty")
	case !a.Created.IsZero() && (a.Created.Year() < 1678 || a.Created.Year() > 2261):
		return fmt.Errorf("models: encode artifact: Created %v outside the years 1678-2261", a.Created)
	case len(a.Algorithm) > math.MaxUint32 || len(a.FlintVersion) > math.MaxUint32:
		return errors.New("models: encode artifact: Algorithm or FlintVersion too long")
	}
	for n := range a.Extra {
		if why := sectionNameRule(n); why != "" {
			return fmt.Errorf("models: encode artifact: Extra section %q: %s", n, why)
		}
		if slices.Contains(builtinSections[:], n) {
			return fmt.Errorf("models: encode artifact: Extra section %q is a built-in section", n)
		}
	}
	for _, s := range a.Lineage {
		if len(s.Kind) > math.MaxUint32 || len(s.Topic) > math.MaxUint32 || len(s.Path) > math.MaxUint32 {
			return errors.New("models: encode artifact: lineage string too long")
		}
	}
	return nil
}

// sectionNameRule: 1 to 64 bytes, a lower-case letter then lower-case
// letters, digits, '.', '_' or '-'.
func sectionNameRule(n string) string {
	if n == "" || len(n) > maxSectName {
		return fmt.Sprintf("length %d, want 1 to %d", len(n), maxSectName)
	}
	if n[0] < 'a' || n[0] > 'z' {
		return "must start with a lower-case letter"
	}
	for i := 1; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("character %q not allowed", c)
		}
	}
	return ""
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func encodeMetrics(m map[string]float64) []byte {
	keys := slices.Sorted(maps.Keys(m))
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m[k]))
	}
	return b
}

func encodeLineage(src []Source) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(src)))
	for _, s := range src {
		b = appendString(b, s.Kind)
		b = appendString(b, s.Topic)
		b = binary.LittleEndian.AppendUint64(b, uint64(int64(s.Partition)))
		b = appendString(b, s.Path)
		b = binary.LittleEndian.AppendUint64(b, uint64(s.From))
		b = binary.LittleEndian.AppendUint64(b, uint64(s.To))
	}
	return b
}

// UnmarshalBinary decodes an artefact, verifying magic, format version,
// length and checksum first. It copies what it keeps, so b may be reused.
// Any problem is a *FormatError.
func (a *Artifact) UnmarshalBinary(b []byte) error { return a.unmarshal(b, true) }

// unmarshal is UnmarshalBinary; with copying false, Pipeline, Params and
// Extra share b's memory (for callers that own b and drop it).
func (a *Artifact) unmarshal(b []byte, copying bool) error {
	// Magic and version first, so a file that is not an artefact, or one
	// from a newer Flint, says so rather than failing its checksum.
	if len(b) < len(Magic) || string(b[:len(Magic)]) != Magic {
		if len(b) < len(Magic) && bytes.HasPrefix([]byte(Magic), b) {
			return &FormatError{What: "header", Offset: int64(len(b)), Err: io.ErrUnexpectedEOF}
		}
		return &FormatError{What: "magic", Err: ErrBadMagic}
	}
	if len(b) < headerFixed {
		return &FormatError{What: "header", Offset: int64(len(b)), Err: io.ErrUnexpectedEOF}
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != FormatVersion {
		return &FormatError{What: "format version", Offset: 8,
			Err: fmt.Errorf("%w %d (this Flint reads version %d)", ErrUnknownVersion, v, FormatVersion)}
	}
	if f := binary.LittleEndian.Uint16(b[10:]); f != 0 {
		return &FormatError{What: "flags", Offset: 10, Err: fmt.Errorf("%w: unknown flags %#04x", ErrMalformed, f)}
	}
	total := binary.LittleEndian.Uint64(b[offsetLength:])
	switch {
	case total < minArtifact:
		return &FormatError{What: "total length", Offset: offsetLength,
			Err: fmt.Errorf("%w: %d bytes is shorter than the smallest artifact", ErrMalformed, total)}
	case uint64(len(b)) < total:
		return &FormatError{What: fmt.Sprintf("artifact (%d of %d bytes)", len(b), total), Offset: int64(len(b)),
			Err: io.ErrUnexpectedEOF}
	case uint64(len(b)) > total:
		return &FormatError{What: "trailing data", Offset: int64(total),
			Err: fmt.Errorf("%w: %d bytes after the %d-byte artifact", ErrMalformed, uint64(len(b))-total, total)}
	}
	body, stored := b[:len(b)-trailerSize], b[len(b)-trailerSize:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], stored) {
		return &FormatError{What: "checksum", Offset: int64(len(body)),
			Err: fmt.Errorf("%w: stored sha256 %x, computed %x", ErrChecksum, stored, sum)}
	}

	d := decoder{b: body, off: headerFixed}
	var out Artifact
	out.Algorithm = d.str("algorithm")
	out.FlintVersion = d.str("flint version")
	if ns := int64(d.u64("created")); ns != 0 {
		out.Created = time.Unix(0, ns).UTC()
	}
	n := d.u32("section count")
	if d.err == nil && out.Algorithm == "" {
		d.fail("algorithm", headerFixed, "empty")
	}
	if d.err == nil && n < uint32(len(builtinSections)) {
		d.fail("section count", int64(d.off-4), fmt.Sprintf("%d sections, want at least %d", n, len(builtinSections)))
	}
	prev := ""
	for i := uint32(0); i < n && d.err == nil; i++ {
		at := d.off
		nameLen := int(d.u8("section name length"))
		name := string(d.bytes("section name", nameLen))
		size := d.u64(fmt.Sprintf("section %q length", name))
		if d.err != nil {
			break
		}
		if size > uint64(len(d.b)-d.off) {
			d.off = len(d.b)
			d.fail(fmt.Sprintf("section %q", name), int64(at), fmt.Sprintf("length %d runs past the end", size))
			break
		}
		sect := d.bytes("section", int(size))
		if i < uint32(len(builtinSections)) {
			if want := builtinSections[i]; name != want {
				d.fail("section name", int64(at), fmt.Sprintf("section %d is %q, want %q", i, name, want))
				break
			}
		} else {
			switch {
			case sectionNameRule(name) != "":
				d.fail("section name", int64(at), fmt.Sprintf("%q: %s", name, sectionNameRule(name)))
			case slices.Contains(builtinSections[:], name):
				d.fail("section name", int64(at), fmt.Sprintf("built-in section %q repeated", name))
			case prev != "" && name <= prev:
				d.fail("section name", int64(at), fmt.Sprintf("%q after %q: extra sections must be sorted and unique", name, prev))
			}
			prev = name
		}
		if d.err != nil {
			break
		}
		bodyAt := int64(d.off) - int64(size)
		if len(sect) == 0 {
			sect = nil
		} else if copying && name != "metrics" && name != "lineage" && name != "spec" {
			sect = bytes.Clone(sect)
		}
		switch name {
		case "pipeline":
			out.Pipeline = sect
		case "params":
			out.Params = sect
		case "spec":
			out.Spec = string(sect)
		case "metrics":
			out.Metrics = decodeMetrics(&d, sect, bodyAt)
		case "lineage":
			out.Lineage = decodeLineage(&d, sect, bodyAt)
		default:
			if out.Extra == nil {
				out.Extra = make(map[string][]byte)
			}
			out.Extra[name] = sect
		}
	}
	if d.err == nil && d.off != len(d.b) {
		d.fail("sections", int64(d.off), fmt.Sprintf("%d bytes after the last section", len(d.b)-d.off))
	}
	if d.err != nil {
		return d.err
	}
	*a = out
	return nil
}

func decodeMetrics(outer *decoder, b []byte, base int64) map[string]float64 {
	d := decoder{b: b, base: base}
	n := d.u32("metric count")
	m := make(map[string]float64, min(int(n), len(b)/12))
	prev := ""
	for i := uint32(0); i < n && d.err == nil; i++ {
		at := d.off
		k := d.str("metric name")
		v := math.Float64frombits(d.u64("metric value"))
		if d.err == nil && i > 0 && k <= prev {
			d.fail(`section "metrics"`, int64(at), fmt.Sprintf("metric %q after %q: names must be sorted and unique", k, prev))
		}
		m[k], prev = v, k
	}
	d.end(`section "metrics"`)
	outer.adopt(&d)
	return m
}

func decodeLineage(outer *decoder, b []byte, base int64) []Source {
	d := decoder{b: b, base: base}
	n := d.u32("lineage count")
	var src []Source
	for i := uint32(0); i < n && d.err == nil; i++ {
		var s Source
		s.Kind = d.str("lineage kind")
		s.Topic = d.str("lineage topic")
		p := int64(d.u64("lineage partition"))
		s.Partition = int(p)
		if d.err == nil && int64(s.Partition) != p {
			d.fail(`section "lineage"`, int64(d.off-8), fmt.Sprintf("partition %d out of range", p))
		}
		s.Path = d.str("lineage path")
		s.From = int64(d.u64("lineage from"))
		s.To = int64(d.u64("lineage to"))
		src = append(src, s)
	}
	d.end(`section "lineage"`)
	outer.adopt(&d)
	return src
}

// decoder reads little-endian fields from b, keeping the first error.
// Offsets in errors are base + position in b.
type decoder struct {
	b    []byte
	off  int
	base int64
	err  error
}

func (d *decoder) fail(what string, at int64, why string) {
	if d.err == nil {
		d.err = &FormatError{What: what, Offset: d.base + at, Err: fmt.Errorf("%w: %s", ErrMalformed, why)}
	}
}

func (d *decoder) adopt(inner *decoder) {
	if d.err == nil {
		d.err = inner.err
	}
}

func (d *decoder) end(what string) {
	if d.err == nil && d.off != len(d.b) {
		d.fail(what, int64(d.off), fmt.Sprintf("%d unread bytes", len(d.b)-d.off))
	}
}

func (d *decoder) bytes(what string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(what, int64(d.off), fmt.Sprintf("%d bytes wanted, %d left", n, len(d.b)-d.off))
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u8(what string) uint8 {
	if p := d.bytes(what, 1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if p := d.bytes(what, 4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if p := d.bytes(what, 8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) str(what string) string {
	n := d.u32(what + " length")
	if d.err != nil {
		return ""
	}
	if uint64(n) > uint64(len(d.b)-d.off) {
		d.fail(what, int64(d.off), fmt.Sprintf("length %d runs past the end", n))
		return ""
	}
	return string(d.bytes(what, int(n)))
}
