package predlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/flintml/flint/internal/jsonscan"
	"github.com/flintml/flint/log"
)

// Record is the value of one prediction log record (see the package
// documentation for its JSON form).
type Record struct {
	ID         string          `json:"id"`
	Row        int             `json:"row"`
	Time       time.Time       `json:"time"`
	Model      string          `json:"model"`
	Version    int             `json:"version"`
	Fields     json.RawMessage `json:"fields"`
	Prediction json.RawMessage `json:"prediction"`
}

// Decode reads a prediction log record's value. The error says which
// field is missing or malformed.
func Decode(value []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("prediction log record: %w", err)
	}
	if dec.More() {
		return Record{}, errors.New("prediction log record: data after the JSON object")
	}
	switch {
	case r.ID == "":
		return Record{}, errors.New(`prediction log record: "id" is missing or empty`)
	case r.Row < 0:
		return Record{}, fmt.Errorf(`prediction log record %s: "row" is %d, want >= 0`, r.ID, r.Row)
	case len(r.Fields) == 0 || r.Fields[0] != '{':
		return Record{}, fmt.Errorf(`prediction log record %s row %d: "fields" is not a JSON object`, r.ID, r.Row)
	case len(r.Prediction) == 0:
		return Record{}, fmt.Errorf(`prediction log record %s row %d: "prediction" is missing`, r.ID, r.Row)
	}
	return r, nil
}

// appendRecords splits a queued request into one record per prediction
// and appends them to recs. The rows and predictions are copied as the
// client and the server wrote them (no re-encoding): this runs beside the
// predictions, on the same CPUs.
func appendRecords(recs []log.Record, sc *jsonscan.Scanner, spans *[2][]span, q queued) ([]log.Record, error) {
	rows, err := split(sc, (*spans)[0][:0], q.buf[:q.split], "rows", "row")
	(*spans)[0] = rows
	if err != nil {
		return recs, fmt.Errorf("request body: %w", err)
	}
	preds, err := split(sc, (*spans)[1][:0], q.buf[q.split:], "predictions", "")
	(*spans)[1] = preds
	if err != nil {
		return recs, fmt.Errorf("response body: %w", err)
	}
	resp := q.buf[q.split:]
	aligned := len(preds) == len(rows)
	key := []byte(q.id)
	start := len(recs)
	for i, p := range preds {
		pred := resp[p.from:p.to]
		row := i
		if !aligned { // a pair model dropped rows: the prediction names its row
			var at struct {
				Row *int `json:"row"`
			}
			if err := json.Unmarshal(pred, &at); err != nil || at.Row == nil || *at.Row < 0 || *at.Row >= len(rows) {
				return recs[:start], fmt.Errorf("prediction %d of %d rows names no row of the request", i, len(rows))
			}
			row = *at.Row
		}
		fields := q.buf[rows[row].from:rows[row].to]
		v := make([]byte, 0, 128+len(q.id)+len(q.model)+len(fields)+len(pred))
		v = append(v, `{"id":`...)
		v = appendString(v, q.id)
		v = append(v, `,"row":`...)
		v = strconv.AppendInt(v, int64(row), 10)
		v = append(v, `,"time":"`...)
		v = q.time.UTC().AppendFormat(v, time.RFC3339Nano)
		v = append(v, `","model":`...)
		v = appendString(v, q.model)
		v = append(v, `,"version":`...)
		v = strconv.AppendInt(v, int64(q.version), 10)
		v = append(v, `,"fields":`...)
		v = append(v, fields...)
		v = append(v, `,"prediction":`...)
		v = append(v, pred...)
		v = append(v, '}')
		recs = append(recs, log.Record{Key: key, Value: v, Time: q.time})
	}
	return recs, nil
}

// span is a value's place in its input.
type span struct{ from, to int }

// members finds the values of the array under key many (or the one value
// under key one, when one is not "") of the JSON object b, and appends
// their spans to dst. Other keys are skipped; the syntax of the whole
// object is checked.
func members(sc *jsonscan.Scanner, dst []span, b []byte, many, one string) ([]span, error) {
	sc.Reset(b)
	if err := sc.Enter('{'); err != nil {
		return dst, err
	}
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
		if err != nil {
			return dst, err
		}
		if !more {
			break
		}
		k, err := sc.Key()
		if err != nil {
			return dst, err
		}
		switch {
		case string(k) == many && sc.Peek() == '[':
			if err := sc.Enter('['); err != nil {
				return dst, err
			}
			for m := 0; ; m++ {
				more, err := sc.Next(']', m)
				if err != nil {
					return dst, err
				}
				if !more {
					break
				}
				sc.Peek() // skips the whitespace before the value
				from := sc.Pos()
				if err := sc.Skip(); err != nil {
					return dst, err
				}
				dst = append(dst, span{from, sc.Pos()})
			}
		case one != "" && string(k) == one:
			sc.Peek()
			from := sc.Pos()
			if err := sc.Skip(); err != nil {
				return dst, err
			}
			dst = append(dst, span{from, sc.Pos()})
		default:
			if err := sc.Skip(); err != nil {
				return dst, err
			}
		}
	}
	return dst, sc.End()
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		q, _ := json.Marshal(s) // replaces invalid bytes with U+FFFD
		return append(b, q...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[c>>4], hexDigits[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"
