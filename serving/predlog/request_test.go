package predlog_test

import (
	"strings"
	"testing"

	"github.com/flintml/flint/serving/predlog"
)

// TestDecodeRows: records of either format, and the errors that name what
// is wrong with one.
func TestDecodeRows(t *testing.T) {
	const at = `"time":"2026-12-07T14:00:00Z"`
	tests := []struct {
		name, value string
		want        []string // id/row fields prediction
		err         string
	}{
		{"format 2, rows", `{"v":2,"id":"a",` + at + `,"model":"m","version":3,"request":{"rows":[{"x":1},{"x":[2, "]"]}]},"response":{"model":"m","predictions":[{"value":1},{"value":2}]}}`,
			[]string{`a/0 {"x":1} {"value":1}`, `a/1 {"x":[2, "]"]} {"value":2}`}, ""},
		{"format 2, one row", `{"v":2,"id":"b","model":"m","version":1,"request":{"row": {"y":"z"}},"response":{"predictions":[{"class":"no"}]}}`,
			[]string{`b/0 {"y":"z"} {"class":"no"}`}, ""},
		{"format 2, a dropped row", `{"v":2,"id":"c","model":"m","version":1,"request":{"rows":[{"u":1},{"u":2}]},"response":{"predictions":[{"value":4,"row":1}]}}`,
			[]string{`c/1 {"u":2} {"value":4,"row":1}`}, ""},
		{"format 1", `{"id":"d","row":2,` + at + `,"model":"m","version":1,"fields":{"x":1},"prediction":{"value":3}}`,
			[]string{`d/2 {"x":1} {"value":3}`}, ""},
		{"a later format", `{"v":3,"id":"a"}`, nil, `"v" is 3; this version of flint reads formats 1 and 2`},
		{"no id", `{"v":2,"version":1,"request":{"rows":[]},"response":{"predictions":[]}}`, nil, `"id" is missing or empty`},
		{"no response", `{"v":2,"id":"e","version":1,"request":{"rows":[]}}`, nil, `prediction log record e: "request" or "response" is missing`},
		{"no version", `{"v":2,"id":"e","request":{"rows":[]},"response":{"predictions":[]}}`, nil, `prediction log record e: "version" is missing`},
		{"mixed formats", `{"v":2,"id":"e","row":0,"version":1,"request":{"rows":[]},"response":{"predictions":[]}}`, nil, `"row", "fields" and "prediction" are not fields of format 2`},
		{"unknown field", `{"v":2,"id":"e","extra":1}`, nil, `unknown field "extra"`},
		{"not JSON", `{"v":2,"id":"e","request":{"rows":[1 2]}}`, nil, `malformed JSON at byte`},
		{"a row not an object", `{"v":2,"id":"f","version":1,"request":{"rows":[1]},"response":{"predictions":[{"value":1}]}}`, nil, `prediction log record f row 0: "fields" is not a JSON object`},
		{"a prediction naming no row", `{"v":2,"id":"g","version":1,"request":{"rows":[{},{}]},"response":{"predictions":[{"value":1}]}}`, nil, `prediction log record g: prediction 0 of 2 rows names no row of the request`},
		{"a bad time", `{"v":2,"id":"h","time":"yesterday"}`, nil, `"time": parsing time`},
		{"a fractional version", `{"v":2,"id":"h","version":1.5}`, nil, `"version" at byte`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := predlog.DecodeRows(nil, []byte(tc.value))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("DecodeRows = %v, %v; want an error with %q", rows, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.ID+"/"+string(rune('0'+r.Row))+" "+string(r.Fields)+" "+string(r.Prediction))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
