package predlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/flintml/flint/internal/jsonscan"
)

// FormatVersion is the "v" of the records a Writer writes: one record per
// request (format 2). Records without "v" are format 1, one per row, as
// earlier versions wrote them; DecodeRows reads both.
const FormatVersion = 2

// appendHeader appends a request record up to the request body:
// {"v":2,"id":…,"time":…,"model":…,"version":…,"request":
func appendHeader(v []byte, id string, t time.Time, model string, version int) []byte {
	v = append(v, `{"v":`...)
	v = strconv.AppendInt(v, FormatVersion, 10)
	v = append(v, `,"id":`...)
	v = appendString(v, id)
	v = append(v, `,"time":"`...)
	v = t.UTC().AppendFormat(v, time.RFC3339Nano)
	v = append(v, `","model":`...)
	v = appendString(v, model)
	v = append(v, `,"version":`...)
	v = strconv.AppendInt(v, int64(version), 10)
	return append(v, `,"request":`...)
}

// between is what a request record has between the request and the
// response bodies; a closing brace follows the response.
const between = `,"response":`

// maxHeader bounds the length of appendHeader's output: an escaped byte
// takes at most 6 (\u00XX, or U+FFFD for a byte of invalid UTF-8).
func maxHeader(id, model string) int {
	return 96 + 6*(len(id)+len(model))
}

// header is a request record's fields other than the bodies.
type header struct {
	v, version   int
	id, model    string
	time         time.Time
	req, resp    span
	hasV, hasRow bool
	hasVer       bool
}

// DecodeRows reads a prediction log record, of format 2 (one request: its
// rows, split out of the request and response bodies) or 1 (one row), and
// appends its rows to dst. The error names the request and what is missing
// or malformed. The rows' Fields and Prediction point into value.
func DecodeRows(dst []Record, value []byte) ([]Record, error) {
	var sc jsonscan.Scanner
	h, err := readHeader(&sc, value)
	if err != nil {
		return dst, fmt.Errorf("prediction log record: %w", err)
	}
	if !h.hasV {
		r, err := Decode(value)
		if err != nil {
			return dst, err
		}
		return append(dst, r), nil
	}
	switch {
	case h.v != FormatVersion:
		return dst, fmt.Errorf(`prediction log record: "v" is %d; this version of flint reads formats 1 and %d`, h.v, FormatVersion)
	case h.hasRow:
		return dst, fmt.Errorf(`prediction log record %s: "row", "fields" and "prediction" are not fields of format %d`, h.id, FormatVersion)
	case h.id == "":
		return dst, errors.New(`prediction log record: "id" is missing or empty`)
	case h.req.to == 0 || h.resp.to == 0:
		return dst, fmt.Errorf(`prediction log record %s: "request" or "response" is missing`, h.id)
	case !h.hasVer:
		return dst, fmt.Errorf(`prediction log record %s: "version" is missing`, h.id)
	}
	req, resp := value[h.req.from:h.req.to], value[h.resp.from:h.resp.to]
	// The whole record's syntax is checked: split may match brackets.
	rows, err := split(&sc, nil, req, "rows", "row")
	if err != nil {
		return dst, fmt.Errorf(`prediction log record %s: "request": %w`, h.id, err)
	}
	preds, err := split(&sc, nil, resp, "predictions", "")
	if err != nil {
		return dst, fmt.Errorf(`prediction log record %s: "response": %w`, h.id, err)
	}
	start := len(dst)
	aligned := len(preds) == len(rows)
	for i, p := range preds {
		pred := resp[p.from:p.to]
		row := i
		if !aligned { // a pair model dropped rows: the prediction names its row
			var at struct {
				Row *int `json:"row"`
			}
			if err := json.Unmarshal(pred, &at); err != nil || at.Row == nil || *at.Row < 0 || *at.Row >= len(rows) {
				return dst[:start], fmt.Errorf("prediction log record %s: prediction %d of %d rows names no row of the request", h.id, i, len(rows))
			}
			row = *at.Row
		}
		r := Record{ID: h.id, Row: row, Time: h.time, Model: h.model, Version: h.version,
			Fields: req[rows[row].from:rows[row].to], Prediction: pred}
		if err := r.check(); err != nil {
			return dst[:start], err
		}
		dst = append(dst, r)
	}
	return dst, nil
}

// readHeader reads the top-level keys of a record of either format,
// checking the syntax of the whole record; it notes where the bodies are.
func readHeader(sc *jsonscan.Scanner, b []byte) (header, error) {
	var h header
	sc.Reset(b)
	if err := sc.Enter('{'); err != nil {
		return h, err
	}
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
		if err != nil {
			return h, err
		}
		if !more {
			break
		}
		k, err := sc.Key()
		if err != nil {
			return h, err
		}
		switch key := string(k); key {
		case "v", "version":
			at := sc.Pos()
			f, err := sc.Num()
			if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return h, fmt.Errorf("%q at byte %d: want an integer", key, at)
			}
			if key == "v" {
				h.v, h.hasV = int(f), true
			} else {
				h.version, h.hasVer = int(f), true
			}
		case "id", "model", "time":
			if sc.Peek() == 'n' { // null, as format 1's decoder took it: empty
				if _, err := sc.Literal(); err != nil {
					return h, err
				}
				continue
			}
			s, err := sc.Str()
			if err != nil {
				return h, fmt.Errorf("%q: %w", key, err)
			}
			switch key {
			case "id":
				h.id = string(s)
			case "model":
				h.model = string(s)
			default:
				if h.time, err = time.Parse(time.RFC3339Nano, string(s)); err != nil {
					return h, fmt.Errorf(`"time": %w`, err)
				}
			}
		case "request", "response":
			sc.Peek()
			sp := span{from: sc.Pos()}
			if err := sc.Skip(); err != nil {
				return h, err
			}
			sp.to = sc.Pos()
			if key == "request" {
				h.req = sp
			} else {
				h.resp = sp
			}
		case "row", "fields", "prediction":
			h.hasRow = true
			if err := sc.Skip(); err != nil {
				return h, err
			}
		default:
			return h, fmt.Errorf("unknown field %q", key)
		}
	}
	return h, sc.End()
}

// objectBody reports whether b looks like a JSON object: the writer's
// check, in constant time, that a body the server hands over is one (the
// server parsed the request and wrote the response; the readers check
// the syntax in full).
func objectBody(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}'
}
