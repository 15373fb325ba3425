package serving

// The KServe V2 / Open Inference Protocol REST API. Section names in the
// comments are those of the protocol's REST specification
// (kserve/open-inference-protocol, specification/protocol/inference_rest.md,
// and kserve's docs/predict-api/v2/required_api.md, which it grew from).

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/internal/jsonscan"
)

// Output tensor names.
const (
	outPredict = "predict"       // class index, value or cluster; shape [N]
	outProba   = "probabilities" // classifiers: FP64, shape [N, classes]
	outRow     = "row"           // (user, item) models: the input row of each score, INT64, shape [N]
)

// "Tensor Data Types": the datatypes a request may name.
var v2Datatypes = map[string]struct {
	integer  bool
	min, max float64
}{
	"BOOL":   {},
	"UINT8":  {true, 0, math.MaxUint8},
	"UINT16": {true, 0, math.MaxUint16},
	"UINT32": {true, 0, math.MaxUint32},
	"UINT64": {true, 0, math.MaxUint64},
	"INT8":   {true, math.MinInt8, math.MaxInt8},
	"INT16":  {true, math.MinInt16, math.MaxInt16},
	"INT32":  {true, math.MinInt32, math.MaxInt32},
	"INT64":  {true, math.MinInt64, math.MaxInt64},
	"FP16":   {false, -65504, 65504},
	"FP32":   {false, -math.MaxFloat32, math.MaxFloat32},
	"FP64":   {false, -math.MaxFloat64, math.MaxFloat64},
	"BYTES":  {},
}

// v2DatatypeFits says whether a tensor of datatype dt may feed a field of
// type t: numbers for numeric and vector fields (and BOOL, as 0 and 1, for
// numeric ones), BYTES for categorical and text fields (numbers become
// their canonical text, features.NumberCategory, and BOOL "true" or
// "false", as in the native API and in training), and Unix seconds or
// RFC 3339 BYTES for timestamps.
func v2DatatypeFits(dt string, t features.FieldType) bool {
	numeric := dt != "BYTES" && dt != "BOOL"
	switch t {
	case features.Numeric:
		return numeric || dt == "BOOL"
	case features.Vector:
		return numeric
	case features.Timestamp:
		return numeric || dt == "BYTES"
	case features.Categorical, features.Text:
		return true
	}
	return false
}

// v2Datatype is the datatype model metadata advertises for a field.
func v2Datatype(t features.FieldType) string {
	if t == features.Categorical || t == features.Text {
		return "BYTES"
	}
	return "FP64"
}

// tensor is one decoded "Request Input".
type tensor struct {
	name     string
	datatype string
	shape    []int
	elems    []elem
	strs     []string // the string elements' values
	dims     []int    // the nesting found in data: one length per level
	leaf     int      // nesting level of the scalars, -1 before the first
	field    int      // schema field index
	has      uint8    // hasName | hasShape | ...
}

const (
	hasName = 1 << iota
	hasShape
	hasDatatype
	hasData
)

// elem is one scalar of tensor data.
type elem struct {
	kind       byte    // 'n' number, 's' string, 'b' boolean, 'z' null
	num        float64 // the number, 1 or 0 for a boolean, the index in strs for a string
	lit0, lit1 int     // a number's literal text: body[lit0:lit1]
}

// budget bounds the tensor elements of a request by what MaxRows rows of
// the model's inputs hold, so that no body makes the server hold more.
type budget struct{ left, maxRows int }

// v2Request is what an inference request asks for besides its inputs.
type v2Request struct {
	id       string
	hasID    bool
	outputs  []string // requested outputs in order; nil: all
	nTensors int
}

// decodeV2 reads an "Inference Request JSON Object", turns its input
// tensors, one per schema field, into rows, and predicts them.
func (lm *loadedModel) decodeV2(ctx context.Context, w *worker, body []byte, maxRows int) (v2Request, error) {
	var req v2Request
	sc := &w.sc
	sc.Reset(body)
	w.begin(false)
	if err := sc.Enter('{'); err != nil {
		return req, badRequest(`%v (want an inference request {"inputs": [...]})`, err)
	}
	seen := map[string]bool{}
	b := budget{left: maxRows * lm.inputValues, maxRows: maxRows}
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
		if err != nil {
			return req, malformed(err)
		}
		if !more {
			break
		}
		k, err := sc.Key()
		if err != nil {
			return req, malformed(err)
		}
		key := string(k)
		if seen[key] {
			return req, badRequest("%q given twice", key)
		}
		seen[key] = true
		switch key {
		case "id":
			id, err := stringValue(sc, `"id"`)
			if err != nil {
				return req, err
			}
			req.id, req.hasID = id, true
		case "parameters":
			if err := parseParameters(sc, "parameters"); err != nil {
				return req, err
			}
		case "inputs":
			if err := lm.parseInputs(sc, w, &req, &b); err != nil {
				return req, err
			}
		case "outputs":
			if err := lm.parseOutputs(sc, &req); err != nil {
				return req, err
			}
		default:
			return req, badRequest(`unknown key %q: an inference request has "id", "parameters", "inputs" and "outputs"`, key)
		}
	}
	if err := sc.End(); err != nil {
		return req, malformed(err)
	}
	if !seen["inputs"] {
		return req, badRequest(`no "inputs" in the request`)
	}
	w.wantProba = req.wantsProba() && lm.proba
	if err := lm.v2Rows(ctx, w, w.tensors[:req.nTensors], maxRows); err != nil {
		return req, err
	}
	if err := lm.flush(w); err != nil {
		return req, err
	}
	return req, lm.checkFinite(w, inV2, false)
}

// parseParameters checks a "Parameters" object: string, number or boolean
// values. None is defined by the protocol and Flint defines none, so they
// are checked and ignored.
func parseParameters(sc *jsonscan.Scanner, where string) error {
	if sc.Peek() != '{' {
		return badRequest("%s: want an object, got %s", where, sc.Kind())
	}
	if err := sc.Enter('{'); err != nil {
		return malformed(err)
	}
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
		if err != nil {
			return malformed(err)
		}
		if !more {
			return nil
		}
		k, err := sc.Key()
		if err != nil {
			return malformed(err)
		}
		switch c := sc.Peek(); {
		case c == '"' || c == 't' || c == 'f' || c == '-' || '0' <= c && c <= '9':
			if err := sc.Skip(); err != nil {
				return malformed(err)
			}
		default:
			return badRequest("%s %q: want a string, number or boolean, got %s", where, k, sc.Kind())
		}
	}
}

// parseInputs reads the "inputs" array ("Request Input" objects).
func (lm *loadedModel) parseInputs(sc *jsonscan.Scanner, w *worker, req *v2Request, b *budget) error {
	if sc.Peek() != '[' {
		return badRequest(`"inputs": want an array of input tensors, got %s`, sc.Kind())
	}
	if err := sc.Enter('['); err != nil {
		return malformed(err)
	}
	for n := 0; ; n++ {
		more, err := sc.Next(']', n)
		if err != nil {
			return malformed(err)
		}
		if !more {
			return nil
		}
		if n >= len(lm.fields) {
			return badRequest("more input tensors than the model has inputs (%d)", len(lm.fields))
		}
		if n == len(w.tensors) {
			w.tensors = append(w.tensors, tensor{})
		}
		t := &w.tensors[n]
		if err := parseTensor(sc, t, n, b); err != nil {
			return err
		}
		req.nTensors = n + 1
	}
}

func parseTensor(sc *jsonscan.Scanner, t *tensor, n int, b *budget) error {
	t.name, t.datatype, t.shape, t.elems, t.strs, t.dims, t.leaf, t.has = "", "", t.shape[:0], t.elems[:0], t.strs[:0], t.dims[:0], -1, 0
	where := func() string {
		if t.has&hasName != 0 {
			return fmt.Sprintf("input %q", t.name)
		}
		return fmt.Sprintf("inputs[%d]", n)
	}
	if sc.Peek() != '{' {
		return badRequest("%s: want an input tensor object, got %s", where(), sc.Kind())
	}
	if err := sc.Enter('{'); err != nil {
		return malformed(err)
	}
	for i := 0; ; i++ {
		more, err := sc.Next('}', i)
		if err != nil {
			return malformed(err)
		}
		if !more {
			break
		}
		k, err := sc.Key()
		if err != nil {
			return malformed(err)
		}
		var bit uint8
		switch string(k) {
		case "name":
			bit = hasName
			name, err := stringValue(sc, where()+`: "name"`)
			if err != nil {
				return err
			}
			t.name = name
		case "datatype":
			bit = hasDatatype
			dt, err := stringValue(sc, where()+`: "datatype"`)
			if err != nil {
				return err
			}
			t.datatype = dt
		case "shape":
			bit = hasShape
			if err := parseShape(sc, t, where, b); err != nil {
				return err
			}
		case "data":
			bit = hasData
			if sc.Peek() != '[' {
				return badRequest(`%s: "data": want an array, got %s`, where(), sc.Kind())
			}
			if err := parseData(sc, t, 0, where, b); err != nil {
				return err
			}
		case "parameters":
			if err := parseParameters(sc, where()+" parameters"); err != nil {
				return err
			}
		default:
			return badRequest(`%s: unknown key %q: an input tensor has "name", "shape", "datatype", "parameters" and "data"`, where(), k)
		}
		if t.has&bit != 0 {
			return badRequest("%s: %q given twice", where(), k)
		}
		t.has |= bit
	}
	for _, m := range []struct {
		bit uint8
		key string
	}{{hasName, "name"}, {hasShape, "shape"}, {hasDatatype, "datatype"}, {hasData, "data"}} {
		if t.has&m.bit == 0 {
			return badRequest("%s: no %q", where(), m.key)
		}
	}
	return nil
}

func parseShape(sc *jsonscan.Scanner, t *tensor, where func() string, b *budget) error {
	if sc.Peek() != '[' {
		return badRequest(`%s: "shape": want an array of sizes, got %s`, where(), sc.Kind())
	}
	if err := sc.Enter('['); err != nil {
		return malformed(err)
	}
	for i := 0; ; i++ {
		more, err := sc.Next(']', i)
		if err != nil {
			return malformed(err)
		}
		if !more {
			return nil
		}
		c := sc.Peek()
		if c != '-' && (c < '0' || c > '9') {
			return badRequest(`%s: "shape"[%d]: want a size, got %s`, where(), i, sc.Kind())
		}
		f, err := sc.Num()
		if err != nil || f < 0 || f != math.Trunc(f) {
			return badRequest(`%s: "shape"[%d]: want a size (an integer >= 0)`, where(), i)
		}
		if f > math.MaxInt32 {
			return errorf(http.StatusRequestEntityTooLarge, `%s: "shape"[%d]: %.0f is more than the server takes (at most %d rows of inputs per request)`,
				where(), i, f, b.maxRows)
		}
		if i >= 8 {
			return badRequest(`%s: "shape": more than 8 dimensions`, where())
		}
		t.shape = append(t.shape, int(f))
	}
}

// parseData reads "Tensor Data": a flat array of scalars, or nested arrays
// in the tensor's natural multi-dimensional form, in row-major order.
// Nested arrays must be regular; their lengths are kept in t.dims.
func parseData(sc *jsonscan.Scanner, t *tensor, level int, where func() string, b *budget) error {
	if err := sc.Enter('['); err != nil {
		return malformed(err)
	}
	if level == len(t.dims) {
		t.dims = append(t.dims, -1) // set when the first array of this level ends
	}
	count := 0
	for n := 0; ; n++ {
		more, err := sc.Next(']', n)
		if err != nil {
			return malformed(err)
		}
		if !more {
			break
		}
		count++
		if sc.Peek() == '[' {
			if t.leaf >= 0 && t.leaf <= level {
				return badRequest(`%s: "data" mixes scalars and arrays at one level`, where())
			}
			if err := parseData(sc, t, level+1, where, b); err != nil {
				return err
			}
			continue
		}
		if t.leaf < 0 {
			t.leaf = level
		} else if t.leaf != level {
			return badRequest(`%s: "data" has scalars at different nesting levels`, where())
		}
		e := elem{}
		switch c := sc.Peek(); {
		case c == '"':
			s, err := sc.Str()
			if err != nil {
				return malformed(err)
			}
			e.kind, e.num = 's', float64(len(t.strs))
			t.strs = append(t.strs, string(s))
		case c == 't' || c == 'f' || c == 'n':
			l, err := sc.Literal()
			if err != nil {
				return malformed(err)
			}
			e.kind, e.num = 'b', 0
			switch l {
			case 't':
				e.num = 1
			case 'n':
				e.kind = 'z'
			}
		case c == '-' || '0' <= c && c <= '9':
			start := sc.Pos()
			f, err := sc.Num()
			if err != nil {
				if _, ok := err.(*jsonscan.RangeError); ok {
					return badRequest("%s element %d: %v", where(), len(t.elems), err)
				}
				return malformed(err)
			}
			e.kind, e.num, e.lit0, e.lit1 = 'n', f, start, sc.Pos()
		default:
			return badRequest("%s element %d: want a number, string or boolean, got %s", where(), len(t.elems), sc.Kind())
		}
		if b.left--; b.left < 0 {
			return errorf(http.StatusRequestEntityTooLarge, "more tensor elements than %d rows of the model's inputs hold (the server's limit per request)", b.maxRows)
		}
		t.elems = append(t.elems, e)
	}
	if t.dims[level] < 0 {
		t.dims[level] = count
	} else if t.dims[level] != count {
		return badRequest(`%s: "data" is ragged: arrays at nesting level %d have %d and %d elements`, where(), level+1, t.dims[level], count)
	}
	return nil
}

// v2Rows checks the input tensors against the schema and turns them into
// rows, then feature vectors.
func (lm *loadedModel) v2Rows(ctx context.Context, w *worker, ts []tensor, maxRows int) error {
	n := -1
	var nFrom string
	byField := make([]int, len(lm.fields))
	for i := range byField {
		byField[i] = -1
	}
	for i := range ts {
		t := &ts[i]
		j, ok := lm.index[t.name]
		if !ok || !lm.input[j] && (lm.strict || lm.labelOrWeight(j)) {
			return badRequest("input %q: the model has no such input (see GET /v2/models/%s)", t.name, lm.name)
		}
		if byField[j] >= 0 {
			return badRequest("input %q given twice", t.name)
		}
		if !lm.reads(j) { // a field of the schema the model does not read: ignored
			byField[j], t.field = i, -1
			continue
		}
		byField[j], t.field = i, j
		f := lm.fields[j]
		dt, ok := v2Datatypes[t.datatype]
		if !ok {
			return badRequest("input %q: unknown datatype %q", t.name, t.datatype)
		}
		if !v2DatatypeFits(t.datatype, f.Type) {
			return badRequest("input %q: datatype %s does not fit the field's type %s", t.name, t.datatype, f.Type)
		}
		// The shape: [N] or [N, 1] for a scalar field, [N, dim] for a vector.
		rows, okShape := -1, false
		switch {
		case f.Type == features.Vector:
			okShape = len(t.shape) == 2 && t.shape[1] == f.Dim
		default:
			okShape = len(t.shape) == 1 || len(t.shape) == 2 && t.shape[1] == 1
		}
		if !okShape {
			want := "[N] or [N, 1]"
			if f.Type == features.Vector {
				want = fmt.Sprintf("[N, %d]", f.Dim)
			}
			return badRequest("input %q: shape %v, want %s", t.name, t.shape, want)
		}
		rows = t.shape[0]
		total := rows
		if len(t.shape) == 2 {
			total *= t.shape[1]
		}
		if total != len(t.elems) {
			return badRequest("input %q: shape %v has %d elements, data has %d", t.name, t.shape, total, len(t.elems))
		}
		if len(t.dims) > 1 && !slices.Equal(t.dims, t.shape) {
			return badRequest("input %q: nested data of shape %v, the tensor's shape is %v", t.name, t.dims, t.shape)
		}
		if n < 0 {
			n, nFrom = rows, t.name
		} else if rows != n {
			return badRequest("input %q has %d rows, input %q has %d", t.name, rows, nFrom, n)
		}
		// The elements: their JSON types must match the datatype.
		for k, e := range t.elems {
			var bad string
			switch {
			case e.kind == 'z':
				if !f.Optional {
					bad = "null (the field is not optional)"
				}
			case t.datatype == "BYTES":
				if e.kind != 's' {
					bad = "want a string"
				}
			case t.datatype == "BOOL":
				if e.kind != 'b' {
					bad = "want a boolean"
				}
			case e.kind != 'n':
				bad = "want a number"
			case dt.integer && e.num != math.Trunc(e.num):
				bad = fmt.Sprintf("%v is not an integer", e.num)
			case e.num < dt.min || e.num > dt.max:
				bad = fmt.Sprintf("%v is out of range", e.num)
			}
			if bad != "" {
				return &requestError{Status: http.StatusBadRequest, Row: k / max(1, total/max(rows, 1)), Field: f.Name,
					Msg: fmt.Sprintf("input %q element %d: %s (datatype %s)", t.name, k, bad, t.datatype)}
			}
		}
	}
	if n < 0 {
		n = 0
	}
	for j, f := range lm.fields {
		if lm.input[j] && !f.Optional && byField[j] < 0 && !lm.filled(j) {
			return badRequest("no input %q (the model needs one tensor per field; see GET /v2/models/%s)", f.Name, lm.name)
		}
	}
	if n > maxRows {
		return errorf(http.StatusRequestEntityTooLarge, "%d rows, more than %d (the server's limit per request)", n, maxRows)
	}
	for r := 0; r < n; r++ {
		if r%256 == 255 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := lm.v2Row(w, ts, r); err != nil {
			return err
		}
		if err := lm.checkRow(w, r, inV2); err != nil {
			return err
		}
		if err := lm.addRow(w, r, inV2, false); err != nil {
			return err
		}
	}
	return nil
}

// v2Row fills w.row with row r of the input tensors, through the
// features setters, as the native API and training set values.
func (lm *loadedModel) v2Row(w *worker, ts []tensor, r int) error {
	w.nextRow()
	for i := range ts {
		t := &ts[i]
		if t.field < 0 {
			continue
		}
		f := lm.fields[t.field]
		w.seen[t.field] = w.gen
		dst := &w.row[t.field]
		if f.Type == features.Vector {
			for _, e := range t.elems[r*f.Dim : (r+1)*f.Dim] {
				if e.kind == 'z' { // optional vector with nulls: missing
					features.SetNull(dst)
					break
				}
				dst.Vec = append(dst.Vec, e.num)
			}
			continue
		}
		var err error
		switch e := t.elems[r]; e.kind {
		case 'z':
			features.SetNull(dst)
		case 's':
			err = features.SetString(dst, f, t.strs[int(e.num)])
		case 'b':
			switch {
			case f.Type != features.Numeric:
				err = features.SetBool(dst, f, e.num == 1)
			case e.num == 1: // BOOL for a numeric field: 1 and 0
				err = features.SetNumber(dst, f, "1")
			default:
				err = features.SetNumber(dst, f, "0")
			}
		default: // the literal text, as the native API and training read it
			err = features.SetNumber(dst, f, w.sc.Input()[e.lit0:e.lit1])
		}
		if err != nil {
			return rowError(r, inV2, err)
		}
	}
	return nil
}

// stringValue reads the JSON string at the scanner; what names the key in
// the error when the value is something else.
func stringValue(sc *jsonscan.Scanner, what string) (string, error) {
	if sc.Peek() != '"' {
		return "", badRequest("%s: want a string, got %s", what, sc.Kind())
	}
	s, err := sc.Str()
	if err != nil {
		return "", malformed(err)
	}
	return string(s), nil
}
