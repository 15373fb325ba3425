package serving

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/internal/jsonscan"
)

// requestError is a request the server refuses: the status and a message
// for the client. Row and Field say where, for errors about one row's
// field (Row is -1 otherwise). The HTTP error handler writes it.
type requestError struct {
	Status int
	Msg    string
	Row    int
	Field  string
	Cause  error // logged, never sent
	// RetryAfter, when > 0, is sent as the Retry-After header (seconds).
	RetryAfter int
	// Close asks that the connection be closed after the response.
	Close bool
}

func (e *requestError) Error() string { return e.Msg }
func (e *requestError) Unwrap() error { return e.Cause }

func (e *requestError) withCause(err error) *requestError { e.Cause = err; return e }

func (e *requestError) withStatus(status int) *requestError { e.Status = status; return e }

func errorf(status int, format string, args ...any) *requestError {
	return &requestError{Status: status, Msg: fmt.Sprintf(format, args...), Row: -1}
}

func badRequest(format string, args ...any) *requestError {
	return errorf(http.StatusBadRequest, format, args...)
}

// malformed reports a scanner error as the client's.
func malformed(err error) error {
	var se *jsonscan.SyntaxError
	if errors.As(err, &se) {
		return badRequest("%v", se)
	}
	var ne *jsonscan.RangeError
	if errors.As(err, &ne) {
		return badRequest("%v", ne)
	}
	return err
}

// rowForm is how an error names a row.
type rowForm int

const (
	inRows rowForm = iota // native "rows": rows[3]
	inRow                 // native "row": row
	inV2                  // V2 tensors: row 3
)

// rowError places a decoding or transform error at row i. A
// *features.FieldError names the field.
func rowError(i int, form rowForm, err error) error {
	var where string
	switch form {
	case inRows:
		where = fmt.Sprintf("rows[%d]", i)
	case inRow:
		where = "row"
	default:
		where = fmt.Sprintf("row %d", i)
	}
	re := &requestError{Status: http.StatusBadRequest, Row: i, Cause: err}
	var fe *features.FieldError
	if errors.As(err, &fe) {
		re.Field = fe.Field
	}
	re.Msg = fmt.Sprintf("%s: %v", where, err)
	return re
}

func fieldErr(field, format string, args ...any) error {
	return &features.FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// decodeNative reads a native predict body, {"rows": [{…}, …]} or
// {"row": {…}}, straight into feature vectors, and predicts them: w.pred
// (and w.proba) hold the predictions of the w.rows rows afterwards.
func (lm *loadedModel) decodeNative(ctx context.Context, w *worker, body []byte, maxRows int) error {
	sc := &w.sc
	sc.Reset(body)
	w.begin(true)
	if err := sc.Enter('{'); err != nil {
		return badRequest(`%v (want {"rows": [...]} or {"row": {...}})`, err)
	}
	var sawRows, sawRow bool
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
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
		switch string(k) {
		case "rows":
			if sawRows {
				return badRequest(`"rows" given twice`)
			}
			sawRows = true
			switch sc.Peek() {
			case '[':
			default:
				return badRequest(`"rows": want an array of rows (objects keyed by field name), got %s`, sc.Kind())
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
					break
				}
				if i >= maxRows {
					return errorf(http.StatusRequestEntityTooLarge, "more than %d rows (the server's limit per request)", maxRows)
				}
				if i%256 == 255 && ctx.Err() != nil {
					return ctx.Err()
				}
				if err := lm.decodeRow(w, i, inRows); err != nil {
					return err
				}
			}
		case "row":
			if sawRow {
				return badRequest(`"row" given twice`)
			}
			sawRow = true
			if w.rows >= maxRows {
				return errorf(http.StatusRequestEntityTooLarge, "more than %d rows (the server's limit per request)", maxRows)
			}
			if err := lm.decodeRow(w, 0, inRow); err != nil {
				return err
			}
		default:
			return badRequest(`unknown key %q: want "rows" or "row"`, k)
		}
	}
	if err := sc.End(); err != nil {
		return malformed(err)
	}
	switch {
	case sawRows && sawRow:
		return badRequest(`give "rows" or "row", not both`)
	case !sawRows && !sawRow:
		return badRequest(`no "rows" or "row" in the request`)
	}
	if err := lm.flush(w); err != nil {
		return err
	}
	return lm.checkFinite(w, inRows, sawRow)
}

// checkFinite refuses predictions that are not finite numbers (a row far
// outside what the model was trained on can overflow): JSON, and the V2
// protocol's FP64, have no NaN or infinities. The error names the first
// such row; one says it is the request's only row.
func (lm *loadedModel) checkFinite(w *worker, form rowForm, single bool) error {
	nc := len(lm.classes)
	for i, p := range w.pred[:w.rows] {
		bad := math.IsNaN(p) || math.IsInf(p, 0)
		if !bad && w.wantProba && lm.proba && nc > 0 {
			for _, q := range w.proba[i*nc : (i+1)*nc] {
				bad = bad || math.IsNaN(q) || math.IsInf(q, 0)
			}
		}
		if !bad {
			continue
		}
		if single {
			form = inRow
		}
		if lm.pairs != nil {
			i = w.kept[i]
		}
		return rowError(i, form, fmt.Errorf("the model's prediction is not a finite number (%v): the row is outside the range the model can score", p)).(*requestError).withStatus(http.StatusUnprocessableEntity)
	}
	return nil
}

// decodeRow reads one row object and transforms it into the next feature
// vector. i is the row's index in the request.
func (lm *loadedModel) decodeRow(w *worker, i int, form rowForm) error {
	if lm.numeric && lm.feat == nil {
		if err := lm.readNumbers(w, i, form); err != nil {
			return err
		}
		return lm.addRow(w, i, form, true)
	}
	if err := lm.readRow(w, i, form); err != nil {
		return err
	}
	return lm.addRow(w, i, form, false)
}

// readNumbers is readRow for a model whose pipeline reads only numbers
// (lm.numeric) and that fills no streaming features: the row's values go
// straight into w.nums, in schema order, NaN for a missing one
// (features.ScanNumber), and a key that comes in schema order is matched
// in place (jsonscan.KeyIs). What it accepts, and the errors it returns,
// are readRow's.
func (lm *loadedModel) readNumbers(w *worker, i int, form rowForm) error {
	sc := &w.sc
	if err := enterRow(sc, i, form); err != nil {
		return err
	}
	w.nextGen()
	nums := w.nums
	// The fields that come first in schema order with plain numbers are
	// read in one loop, and count as seen (j < k) without a mark each; the
	// rest are read member by member.
	k := lm.run.Scan(sc, nums)
	j := k - 1
	for n := k; ; n++ {
		// The key expected next, in schema order, is read with the ','
		// before it in one step; anything else takes the general path.
		if j+1 < len(lm.keys) && lm.keys[j+1] != "" && sc.NextKeyIs(n, lm.keys[j+1]) {
			j++
		} else if more, err := sc.Next('}', n); err != nil {
			return rowError(i, form, err)
		} else if !more {
			break
		} else if j++; j >= len(lm.fields) || lm.keys[j] == "" || !sc.KeyIs(lm.keys[j]) {
			k, err := sc.Key()
			if err != nil {
				return rowError(i, form, err)
			}
			if j >= len(lm.fields) || lm.fields[j].Name != string(k) {
				var ok bool
				if j, ok = lm.index[string(k)]; !ok {
					return rowError(i, form, fieldErr(string(k), "not in the schema"))
				}
			}
		}
		if j < k || w.seen[j] == w.gen {
			return rowError(i, form, fieldErr(lm.fields[j].Name, "given twice"))
		}
		w.seen[j] = w.gen
		if !lm.input[j] { // as readRow: accepted, not used, unless strict
			if lm.strict {
				return rowError(i, form, fieldErr(lm.fields[j].Name, "the model does not use this field (the server is strict about fields)"))
			}
			if err := sc.Skip(); err != nil {
				return rowError(i, form, err)
			}
			continue
		}
		if err := features.ScanNumber(sc, &nums[j], &lm.fields[j]); err != nil {
			return rowError(i, form, err)
		}
	}
	for j := k; j < len(lm.fields); j++ { // checkRow's checks; the run's fields are plain numbers
		if w.seen[j] == w.gen && !math.IsNaN(nums[j]) {
			continue
		}
		nums[j] = math.NaN()
		if f := &lm.fields[j]; lm.input[j] && !f.Optional {
			return rowError(i, form, fieldErr(f.Name, "missing"))
		}
	}
	return nil
}

// enterRow enters row i's object, or says what came instead.
func enterRow(sc *jsonscan.Scanner, i int, form rowForm) error {
	if sc.Peek() != '{' {
		return rowError(i, form, fmt.Errorf("want an object keyed by field name, got %s", sc.Kind()))
	}
	if err := sc.Enter('{'); err != nil {
		return rowError(i, form, err)
	}
	return nil
}

// readRow reads one row object into w.row and checks it.
func (lm *loadedModel) readRow(w *worker, i int, form rowForm) error {
	sc := &w.sc
	if err := enterRow(sc, i, form); err != nil {
		return err
	}
	w.nextRow()
	row := w.row
	j := -1
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
		if err != nil {
			return rowError(i, form, err)
		}
		if !more {
			break
		}
		k, err := sc.Key()
		if err != nil {
			return rowError(i, form, err)
		}
		// Clients mostly send the fields in schema order: try the next
		// one before hashing.
		if j++; j >= len(lm.fields) || lm.fields[j].Name != string(k) {
			var ok bool
			if j, ok = lm.index[string(k)]; !ok {
				return rowError(i, form, fieldErr(string(k), "not in the schema"))
			}
		}
		if w.seen[j] == w.gen {
			return rowError(i, form, fieldErr(lm.fields[j].Name, "given twice"))
		}
		w.seen[j] = w.gen
		if !lm.reads(j) { // the label, the weight, a field no transform reads: accepted, not used
			if lm.strict {
				return rowError(i, form, fieldErr(lm.fields[j].Name, "the model does not use this field (the server is strict about fields)"))
			}
			if err := sc.Skip(); err != nil {
				return rowError(i, form, err)
			}
			continue
		}
		if err := features.ScanValue(sc, &row[j], lm.fields[j]); err != nil {
			return rowError(i, form, err)
		}
	}
	return lm.checkRow(w, i, form)
}

// nextRow clears the worker's row for the next record.
func (w *worker) nextRow() {
	w.nextGen()
	for j := range w.row {
		w.row[j] = features.Value{Vec: w.row[j].Vec[:0]}
	}
}

// nextGen starts the marks of the fields seen in the next record.
func (w *worker) nextGen() {
	w.gen++
	if w.gen == 0 { // wrapped: old marks could match again
		clear(w.seen)
		w.gen = 1
	}
}

// checkRow marks the fields not given (or null) as missing and checks that
// the required ones are there.
func (lm *loadedModel) checkRow(w *worker, i int, form rowForm) error {
	if lm.feat != nil {
		if err := lm.fillFeatures(w, i, form); err != nil {
			return err
		}
	}
	row := w.row
	for j, f := range lm.fields {
		if w.seen[j] == w.gen && !row[j].Missing {
			continue
		}
		features.SetNull(&row[j])
		if lm.input[j] && !f.Optional {
			return rowError(i, form, fieldErr(f.Name, "missing"))
		}
	}
	return nil
}

// encodeNative writes the predictions in w as a native response body.
func (lm *loadedModel) encodeNative(w *worker) ([]byte, error) {
	b := append(w.out[:0], lm.nativeHead...)
	nc := len(lm.classes)
	for i := 0; i < w.rows; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		switch lm.kind {
		case classification:
			k, err := lm.classIndex(w.pred[i])
			if err != nil {
				return nil, err
			}
			b = append(b, lm.classHead[k]...)
			if !lm.proba {
				break // the head closes the row: classes only
			}
			for j, p := range w.proba[i*nc : (i+1)*nc] {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendFloat(b, p)
			}
			b = append(b, "]}"...)
		case clustering:
			b = append(b, `{"cluster":`...)
			b = strconv.AppendInt(b, int64(w.pred[i]), 10)
			b = append(b, '}')
		default:
			b = append(b, `{"value":`...)
			b = appendFloat(b, w.pred[i])
			if lm.pairs != nil { // the request's row: a pair may be dropped (cold start)
				b = append(b, `,"row":`...)
				b = strconv.AppendInt(b, int64(w.kept[i]), 10)
			}
			b = append(b, '}')
		}
	}
	b = append(b, "]}"...)
	w.out = b
	return b, nil
}
