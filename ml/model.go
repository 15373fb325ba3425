package ml

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
)

// Model is a fitted model: a plain value that predicts without an engine
// and encodes itself. Models are safe for concurrent use by predictions.
type Model interface {
	// Algorithm names the model's kind, e.g. "linear" or "logistic"; it is
	// the name the model's encoding carries.
	Algorithm() string
	// NumFeatures is the number of features a row must have.
	NumFeatures() int
	// PredictBatch writes one prediction per row of the rows×NumFeatures
	// row-major x into dst: the value for a regressor, the class index for
	// a classifier.
	PredictBatch(dst, x []float64, rows int)
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// ClassPredictor is a Model whose predictions are class indices in
// [0, NumClasses). Every Classifier is one; a model that decides classes
// without probabilities (SVMModel) is a ClassPredictor only.
type ClassPredictor interface {
	Model
	// NumClasses is the number of classes, 2 or more.
	NumClasses() int
}

// Classifier is a ClassPredictor that also predicts class probabilities.
type Classifier interface {
	ClassPredictor
	// ProbaBatch writes the class probabilities of each row of x into dst,
	// rows×NumClasses row-major.
	ProbaBatch(dst, x []float64, rows int)
}

// The encoding of a model, shared by every algorithm (all integers
// little-endian):
//
//	magic   "FLML"
//	uint16  envelope version (1)
//	uint8   length n of the algorithm name, then the name's n bytes
//	uint16  payload version (the algorithm's own format version)
//	uint32  payload length m, then the payload's m bytes
//
// Nothing may follow. A store can wrap the whole encoding (adding its own
// checksum and metadata) and hand it back to UnmarshalModel, which finds
// the algorithm's decoder by name. An envelope or payload version this
// build does not know is a *VersionError.
const (
	envelopeMagic   = "FLML"
	envelopeVersion = 1
)

// ErrNotModel is returned for bytes that do not start with the model magic.
var ErrNotModel = errors.New("ml: not an encoded model (bad magic)")

// VersionError reports an encoding version this build cannot read.
type VersionError struct {
	What      string // "model envelope" or the algorithm, e.g. "logistic model"
	Got, Want uint16 // Want is the newest version this build reads
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("ml: %s encoding version %d is unknown: this build reads version %d (a newer Flint wrote it?)", e.What, e.Got, e.Want)
}

// Header is the envelope of an encoded model.
type Header struct {
	Version        uint16
	Algorithm      string
	PayloadVersion uint16
}

// AppendModel appends the envelope and payload to dst. Algorithms outside
// this package (package mlp, say) use it so that every model shares one
// envelope.
func AppendModel(dst []byte, algorithm string, payloadVersion uint16, payload []byte) []byte {
	if len(algorithm) == 0 || len(algorithm) > 255 {
		panic(fmt.Sprintf("ml: AppendModel: algorithm name %q must be 1 to 255 bytes", algorithm))
	}
	return appendEnvelope(dst, envelopeMagic, algorithm, payloadVersion, payload)
}

// ParseModel reads the envelope and returns it with the payload, which
// shares data's memory.
func ParseModel(data []byte) (Header, []byte, error) {
	return parseEnvelope(data, envelopeMagic, "model", ErrNotModel)
}

// appendEnvelope appends an envelope with the given magic (models and
// checkpoint states share the layout) and the payload to dst.
func appendEnvelope(dst []byte, magic, algorithm string, payloadVersion uint16, payload []byte) []byte {
	dst = append(dst, magic...)
	dst = binary.LittleEndian.AppendUint16(dst, envelopeVersion)
	dst = append(dst, byte(len(algorithm)))
	dst = append(dst, algorithm...)
	dst = binary.LittleEndian.AppendUint16(dst, payloadVersion)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// parseEnvelope reads an envelope with the given magic; what ("model",
// "state") names its kind in errors, and badMagic is returned for bytes
// that do not start with the magic.
func parseEnvelope(data []byte, magic, what string, badMagic error) (Header, []byte, error) {
	var h Header
	if len(data) < len(magic) || string(data[:len(magic)]) != magic {
		return h, nil, badMagic
	}
	r := reader{b: data[len(magic):], what: what + " envelope"}
	h.Version = r.u16()
	if r.err == nil && h.Version != envelopeVersion {
		return h, nil, &VersionError{What: what + " envelope", Got: h.Version, Want: envelopeVersion}
	}
	n := int(r.u8())
	h.Algorithm = string(r.bytes(n))
	h.PayloadVersion = r.u16()
	m := int(r.u32())
	payload := r.bytes(m)
	if r.err != nil {
		return h, nil, r.err
	}
	if len(r.b) != 0 {
		return h, nil, fmt.Errorf("ml: encoded %s %s has %d bytes after its payload", h.Algorithm, what, len(r.b))
	}
	return h, payload, nil
}

var modelRegistry = struct {
	sync.RWMutex
	m map[string]func() Model
}{m: map[string]func() Model{}}

// RegisterModel makes UnmarshalModel decode the algorithm's encodings into
// the zero Model newModel returns. Call it at init time; it panics on an
// empty or repeated name.
func RegisterModel(algorithm string, newModel func() Model) {
	if algorithm == "" || newModel == nil {
		panic("ml: RegisterModel: an algorithm name and a constructor are required")
	}
	modelRegistry.Lock()
	defer modelRegistry.Unlock()
	if _, dup := modelRegistry.m[algorithm]; dup {
		panic(fmt.Sprintf("ml: model %q registered twice", algorithm))
	}
	modelRegistry.m[algorithm] = newModel
}

// RegisteredModels lists the algorithms UnmarshalModel can decode, sorted.
func RegisteredModels() []string {
	modelRegistry.RLock()
	defer modelRegistry.RUnlock()
	names := make([]string, 0, len(modelRegistry.m))
	for n := range modelRegistry.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnmarshalModel decodes a model of any registered algorithm.
func UnmarshalModel(data []byte) (Model, error) {
	h, _, err := ParseModel(data)
	if err != nil {
		return nil, err
	}
	modelRegistry.RLock()
	newModel, ok := modelRegistry.m[h.Algorithm]
	modelRegistry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("ml: encoded model of unknown algorithm %q (registered: %v)", h.Algorithm, RegisteredModels())
	}
	m := newModel()
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return m, nil
}

// openPayload parses the envelope and checks it holds the given algorithm
// at a payload version this build reads.
func openPayload(data []byte, algorithm string, version uint16) (reader, error) {
	h, payload, err := ParseModel(data)
	if err != nil {
		return reader{}, err
	}
	if h.Algorithm != algorithm {
		return reader{}, fmt.Errorf("ml: encoded model is %q, not %q", h.Algorithm, algorithm)
	}
	if h.PayloadVersion != version {
		return reader{}, &VersionError{What: algorithm + " model", Got: h.PayloadVersion, Want: version}
	}
	return reader{b: payload, what: algorithm + " model"}, nil
}

// reader decodes little-endian fields, remembering the first error.
type reader struct {
	b    []byte
	what string
	err  error
}

func (r *reader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("ml: encoded %s is truncated: want %d more bytes, have %d", r.what, n, len(r.b))
		return false
	}
	return true
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) f64() float64 {
	if !r.need(8) {
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// f64s reads n float64s, checking the length before allocating.
func (r *reader) f64s(n int) []float64 {
	if n < 0 || !r.need(8*n) {
		if r.err == nil {
			r.err = fmt.Errorf("ml: encoded %s has a negative length", r.what)
		}
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(r.b[8*i:]))
	}
	r.b = r.b[8*n:]
	return v
}

// done fails if bytes are left over.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("ml: encoded %s has %d unexpected trailing bytes", r.what, len(r.b))
	}
	return r.err
}

func appendF64s(dst []byte, v []float64) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	return dst
}
