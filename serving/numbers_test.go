package serving

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/flintml/flint/features"
)

// numbersModel is a model whose pipeline reads only numbers, so native
// rows take readNumbers: a required and an optional number, an optional
// timestamp (bucketized with the optional number, so that missing ones
// reach no vector), a field whose name needs escapes in JSON, a field no
// transform reads, and the label.
func numbersModel(t testing.TB, strict bool) *loadedModel {
	t.Helper()
	schema := features.Schema{
		Fields: []features.Field{
			{Name: "a", Type: features.Numeric},
			{Name: "b", Type: features.Numeric, Optional: true},
			{Name: "t", Type: features.Timestamp, Optional: true},
			{Name: "q\"k", Type: features.Numeric, Optional: true},
			{Name: "unused", Type: features.Numeric, Optional: true},
			{Name: "y", Type: features.Numeric},
		},
		Label: "y",
	}
	lm := linearModel(t, "numbers", schema, []features.TransformSpec{
		{Type: "bucketizer", Inputs: []string{"b", "t"}, Splits: []float64{0, 10, 1.7e9}, Output: "bt"},
		{Type: "assembler", Inputs: []string{"a", "bt", "q\"k"}},
	})
	if !lm.numeric {
		t.Fatal("a pipeline that reads only numbers does not take readNumbers")
	}
	lm.strict = strict
	return lm
}

// decodeBoth decodes body with readNumbers and with readRow (the general
// path) and fails unless both accept it with the same feature vectors,
// predictions and response, or refuse it with the same error. It returns
// the error.
func decodeBoth(t *testing.T, lm *loadedModel, body []byte) error {
	t.Helper()
	type result struct {
		err     error
		x, pred []float64
		out     []byte
	}
	run := func(numeric bool) result {
		lm.numeric = numeric
		defer func() { lm.numeric = true }()
		w := lm.getWorker()
		defer lm.putWorker(w)
		err := lm.decodeNative(context.Background(), w, body, fuzzMaxRows)
		if err != nil {
			return result{err: err}
		}
		out, err := lm.encodeNative(w)
		if err != nil {
			t.Fatalf("%s: encode: %v", body, err)
		}
		return result{x: append([]float64(nil), w.x...), pred: append([]float64(nil), w.pred...), out: bytes.Clone(out)}
	}
	got, ref := run(true), run(false)
	err, refErr := got.err, ref.err
	if (err == nil) != (refErr == nil) {
		t.Fatalf("%s: readNumbers says %v, readRow says %v", body, err, refErr)
	}
	if err != nil {
		var re, rre *requestError
		if !errors.As(err, &re) || !errors.As(refErr, &rre) {
			if err.Error() != refErr.Error() {
				t.Fatalf("%s: readNumbers says %v, readRow %v", body, err, refErr)
			}
			return err
		}
		if re.Msg != rre.Msg || re.Status != rre.Status || re.Row != rre.Row || re.Field != rre.Field {
			t.Fatalf("%s: readNumbers refuses it with %d %q (row %d, field %q), readRow with %d %q (row %d, field %q)",
				body, re.Status, re.Msg, re.Row, re.Field, rre.Status, rre.Msg, rre.Row, rre.Field)
		}
		return err
	}
	if !sameBits(got.x, ref.x) || !sameBits(got.pred, ref.pred) || !bytes.Equal(got.out, ref.out) {
		t.Fatalf("%s: readNumbers gives %v → %v %s, readRow %v → %v %s", body, got.x, got.pred, got.out, ref.x, ref.pred, ref.out)
	}
	return nil
}

// TestReadNumbersAgreesWithReadRow: a model whose pipeline reads only
// numbers reads native rows straight into numbers (readNumbers); on every
// body, valid or not, that gives what the general decoder gives: the same
// vectors and response, or the same error naming the same row and field.
func TestReadNumbersAgreesWithReadRow(t *testing.T) {
	for _, c := range []struct {
		body   string
		strict bool
		ok     bool
		field  string // of the error
	}{
		{body: `{"rows": [{"a": 1.5, "b": 2, "t": 1700000000, "q\"k": -3, "unused": 9, "y": 0}]}`, ok: true},
		{body: `{"row": {"a": -0.000123, "b": 12.25, "t": "2024-01-02T03:04:05Z", "q\"k": 1e-7}}`, ok: true},
		{body: `{"rows": [{"q\"k": 4, "t": "1700000000.5", "b": 3, "a": 2}, {"a": 1, "q\"k": 0}]}`, ok: true},
		{body: ` { "rows" : [ { "a" : 7 , "q\"k" : 1 } ] } `, ok: true},
		{body: `{"rows": [{"\u0061": 7, "q\u0022k": 1}]}`, ok: true},
		{body: `{"rows": [{"a": 12345678901234567890, "q\"k": 9007199254740993}]}`, ok: true},
		{body: `{"rows": [{"a": 1e23, "q\"k": 4.9e-324, "b": null, "t": null}]}`, ok: true},
		{body: `{"rows": [{"a": 1, "q\"k": 1, "unused": {"x": [1, "s"]}}]}`, ok: true},
		{body: `{"rows": [{"a": 1, "q\"k": 1, "unused": 1}]}`, strict: true, field: "unused"},
		{body: `{"rows": [{"a": 1, "q\"k": 1}, {"q\"k": 1}]}`, field: "a"},
		{body: `{"rows": [{"a": null, "q\"k": 1}]}`, field: "a"},
		{body: `{"rows": [{"a": 1}]}`, field: "q\"k"},
		{body: `{"rows": [{"a": 1, "a": 2, "q\"k": 1}]}`, field: "a"},
		{body: `{"rows": [{"a": 1, "zz": 2, "q\"k": 1}]}`, field: "zz"},
		{body: `{"rows": [{"a": "1", "q\"k": 1}]}`, field: "a"},
		{body: `{"rows": [{"a": true, "q\"k": 1}]}`, field: "a"},
		{body: `{"rows": [{"a": [1], "q\"k": 1}]}`, field: "a"},
		{body: `{"rows": [{"a": 1e400, "q\"k": 1}]}`, field: "a"},
		{body: `{"rows": [{"a": 1, "t": "yesterday", "q\"k": 1}]}`, field: "t"},
		{body: `{"rows": [{"a": 1, "t": "NaN", "q\"k": 1}]}`, field: "t"},
		{body: `{"rows": [{"a": 01, "q\"k": 1}]}`},
		{body: `{"rows": [{"a": 1., "q\"k": 1}]}`},
		{body: `{"rows": [{"a": 1.5.3, "q\"k": 1}]}`},
		{body: `{"rows": [{"a": -, "q\"k": 1}]}`},
		{body: `{"rows": [{"a": 1,}]}`},
		{body: `{"rows": [{"a" 1}]}`},
		{body: `{"rows": [{"a": 1, "q\"k": 1`},
		{body: `{"rows": [{a: 1}]}`},
		{body: `{"rows": [1]}`},
		{body: `{"rows": [{"a": 1, "q\"k": 1}, {"a": 1, "q\"k": 1}], "row": {"a": 1}}`},
	} {
		lm := numbersModel(t, c.strict)
		err := decodeBoth(t, lm, []byte(c.body))
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok=%v", c.body, err, c.ok)
			continue
		}
		var re *requestError
		if c.field != "" && (!errors.As(err, &re) || re.Field != c.field) {
			t.Errorf("%s: error %v does not name field %q", c.body, err, c.field)
		}
	}
}

// FuzzReadNumbers: on any body, readNumbers and readRow agree (see
// decodeBoth), and what is refused is a 4xx.
//
//	go test ./serving -run '^$' -fuzz FuzzReadNumbers -fuzztime 1m
func FuzzReadNumbers(f *testing.F) {
	for _, s := range []string{
		`{"rows": [{"a": 1.5, "b": 2, "t": 1700000000, "q\"k": -3, "unused": 9, "y": 0}]}`,
		`{"row": {"a": -0.000123, "b": 12.25, "t": "2024-01-02T03:04:05Z", "q\"k": 1e-7}}`,
		`{"rows": [{"q\"k": 4, "b": 3, "a": 2}, {"a": 1, "q\"k": 0}]}`,
		`{"rows": [{"\u0061": 7, "q\u0022k": 1}]}`, `{"rows": [{"a": 12345678901234567890, "q\"k": 1e23}]}`,
		`{"rows": [{"a": 01, "q\"k": 1}]}`, `{"rows": [{"a": 1, "a": 2}]}`, `{"rows": [{"a": "1"}]}`,
	} {
		f.Add([]byte(s), false)
	}
	lms := map[bool]*loadedModel{false: numbersModel(f, false), true: numbersModel(f, true)}
	f.Fuzz(func(t *testing.T, body []byte, strict bool) {
		if err := decodeBoth(t, lms[strict], body); err != nil {
			checkClientError(t, err)
		}
	})
}
