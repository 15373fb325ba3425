package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
)

var houseSchema = Schema{
	Format: "json",
	Fields: []Field{
		{Name: "rooms", Type: Numeric},
		{Name: "area", Type: Numeric, Optional: true},
		{Name: "city", Type: Categorical},
		{Name: "notes", Type: Text, Optional: true},
		{Name: "price", Type: Numeric},
		{Name: "kind", Type: Categorical},
	},
	Label: "kind",
}

func houseSpecs() []TransformSpec {
	return []TransformSpec{
		{Type: "imputer", Inputs: []string{"area"}, Output: "area_i"},
		{Type: "standard_scaler", Inputs: []string{"rooms", "area_i"}, Output: "scaled", WithMean: ptr(true)},
		{Type: "one_hot", Inputs: []string{"city"}, Output: "city_oh"},
		{Type: "tfidf", Inputs: []string{"notes"}, Buckets: 16, Output: "notes_tfidf"},
		{Type: "quantile_discretizer", Inputs: []string{"price"}, Buckets: 4, Output: "price_q"},
		{Type: "assembler", Inputs: []string{"scaled", "city_oh", "notes_tfidf", "price_q"}},
	}
}

func ptr[T any](v T) *T { return &v }

// houses writes n JSON records and returns the file and the records.
func houses(t *testing.T, n int) (string, []map[string]any) {
	t.Helper()
	cities := []string{"paris", "lyon", "paris", "nice", "paris", "lyon"}
	var sb strings.Builder
	var recs []map[string]any
	for i := 0; i < n; i++ {
		r := map[string]any{
			"rooms": float64(1 + i%5),
			"city":  cities[i%len(cities)],
			"price": float64(100 + i),
			"kind":  []string{"flat", "house"}[i%2],
			"notes": fmt.Sprintf("quiet street %s", []string{"garden", "view", "garden view"}[i%3]),
		}
		if i%7 != 0 {
			r["area"] = float64(20 + 3*i%50)
		}
		b, _ := json.Marshal(r)
		sb.Write(b)
		sb.WriteByte('\n')
		recs = append(recs, r)
	}
	p := filepath.Join(t.TempDir(), "houses.jsonl")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, recs
}

func fitHouses(t *testing.T, workers, parts int, path string) (*Pipeline, *cluster.Engine, []cluster.Source) {
	t.Helper()
	p, err := New(houseSchema, houseSpecs())
	if err != nil {
		t.Fatal(err)
	}
	e := cluster.NewEngine(cluster.Config{Workers: workers})
	t.Cleanup(func() { e.Close() })
	sources, err := cluster.PlanFiles([]string{path}, cluster.FileOptions{Format: cluster.Format{Kind: "jsonl"}, Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Fit(context.Background(), e, nil, sources, FitOptions{}); err != nil {
		t.Fatal(err)
	}
	return p, e, sources
}

func TestFitLearnsParameters(t *testing.T) {
	path, recs := houses(t, 600)
	p, _, _ := fitHouses(t, 2, 3, path)
	// Imputer: the mean of the present areas.
	var sum, n float64
	for _, r := range recs {
		if a, ok := r["area"].(float64); ok {
			sum += a
			n++
		}
	}
	if got := p.Stages[0].Fill[0]; math.Abs(got-sum/n) > 1e-9 {
		t.Fatalf("imputer mean = %v, want %v", got, sum/n)
	}
	// Scaler: mean and sample std of rooms.
	var rs, rs2 float64
	for _, r := range recs {
		v := r["rooms"].(float64)
		rs += v
		rs2 += v * v
	}
	m := rs / 600
	std := math.Sqrt((rs2 - 600*m*m) / 599)
	if st := p.Stages[1]; math.Abs(st.Mean[0]-m) > 1e-9 || math.Abs(st.Scale[0]-1/std) > 1e-9 {
		t.Fatalf("scaler rooms: mean %v scale %v, want %v %v", st.Mean[0], st.Scale[0], m, 1/std)
	}
	// One-hot: most frequent first.
	if v := p.Stages[2].Vocab[0]; strings.Join(v, ",") != "paris,lyon,nice" {
		t.Fatalf("one-hot vocabulary %v, want paris,lyon,nice (by frequency)", v)
	}
	// Quantiles of 100..699 in 4 buckets: about 250, 400, 550.
	cuts := p.Stages[4].Cuts[0]
	if len(cuts) != 3 || math.Abs(cuts[0]-249) > 3 || math.Abs(cuts[1]-399) > 3 || math.Abs(cuts[2]-549) > 3 {
		t.Fatalf("quartile cuts %v, want about 249, 399, 549", cuts)
	}
	// TF-IDF: "quiet" is in every document, so its weight is log(601/601) = 0.
	idf := p.Stages[3].IDF
	if w := idf[hash1("quiet")%16]; w != 0 {
		t.Fatalf("idf of a token in every document = %v, want 0", w)
	}
	if g := hash1("garden") % 16; g != hash1("quiet")%16 && g != hash1("street")%16 && g != hash1("view")%16 {
		if want := math.Log(601.0 / 401.0); math.Abs(idf[g]-want) > 1e-12 {
			t.Fatalf("idf of a token in 2/3 of 600 documents = %v, want %v", idf[g], want)
		}
	}
	if strings.Join(p.Classes, ",") != "flat,house" {
		t.Fatalf("classes %v, want flat,house", p.Classes)
	}
	if p.Width() != 2+3+16+1 {
		t.Fatalf("width %d, want %d", p.Width(), 22)
	}
	names := p.FeatureNames()
	if names[0] != "scaled[0]" || names[2] != "city=paris" || names[4] != "city=nice" || names[len(names)-1] != "price_q" {
		t.Fatalf("feature names %v", names)
	}
}

func TestFitIsIndependentOfWorkers(t *testing.T) {
	path, _ := houses(t, 300)
	a, _, _ := fitHouses(t, 1, 4, path)
	b, _, _ := fitHouses(t, 3, 4, path)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatal("the fitted pipeline differs between 1 and 3 workers")
	}
}

// The vector a row gets when the engine caches it from the raw record must
// equal the one serving computes from the same row as a JSON object.
func TestTrainingAndServingTransformAgree(t *testing.T) {
	path, recs := houses(t, 200)
	p, e, sources := fitHouses(t, 2, 2, path)
	// Through the encoding, as serving loads it from the model store.
	enc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var served Pipeline
	if err := json.Unmarshal(enc, &served); err != nil {
		t.Fatal(err)
	}
	f, err := p.Format(false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sources {
		sources[i].Format = f
	}
	ds, err := e.LoadSources(context.Background(), nil, "houses", sources)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Rows() != 200 || ds.Cols() != p.Width() {
		t.Fatalf("cached %d rows of %d, want 200 of %d", ds.Rows(), ds.Cols(), p.Width())
	}
	tr := served.NewTransformer()
	row := served.Schema.NewRow()
	vec := make([]float64, served.Width())
	k := 0
	for part := 0; part < ds.NumPartitions(); part++ {
		b, _ := e.Block(ds, part)
		for i := 0; i < b.Rows; i++ {
			r := recs[k]
			k++
			if err := served.Schema.DecodeMap(row, jsonRoundTrip(r)); err != nil {
				t.Fatal(err)
			}
			if err := tr.Transform(vec, row); err != nil {
				t.Fatal(err)
			}
			for j, v := range vec {
				if v != b.Row(i)[j] {
					t.Fatalf("record %d feature %s: serving %v, training %v", k-1, served.FeatureNames()[j], v, b.Row(i)[j])
				}
			}
			y, _ := served.Label(row)
			if y != b.Y[i] {
				t.Fatalf("record %d label: serving %v, training %v", k-1, y, b.Y[i])
			}
		}
	}
}

func jsonRoundTrip(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func TestSkipBadRecords(t *testing.T) {
	path, _ := houses(t, 50)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"rooms": "three", "city": "paris", "price": 1, "kind": "flat"}` + "\n")
	f.WriteString(`{"rooms": 2, "price": 1, "kind": "flat"}` + "\n")
	f.Close()
	p, err := New(houseSchema, houseSpecs())
	if err != nil {
		t.Fatal(err)
	}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	sources, _ := cluster.PlanFiles([]string{path}, cluster.FileOptions{Format: cluster.Format{Kind: "jsonl"}, Partitions: 1})
	_, err = p.Fit(context.Background(), e, nil, sources, FitOptions{})
	if err == nil || !strings.Contains(err.Error(), "houses.jsonl:51") || !strings.Contains(err.Error(), `field "rooms"`) {
		t.Fatalf("fit over a bad record = %v, want an error naming houses.jsonl:51 and field rooms", err)
	}
	rep, err := p.Fit(context.Background(), e, nil, sources, FitOptions{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 52 || rep.Bad != 2 || len(rep.Examples) != 2 || !strings.Contains(rep.Examples[1], `field "city": missing`) {
		t.Fatalf("report %+v, want 52 rows with 2 bad", rep)
	}
	fm, _ := p.Format(true)
	sources[0].Format = fm
	ds, err := e.LoadSources(context.Background(), nil, "h", sources)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Rows() != 50 || ds.Skipped() != 2 {
		t.Fatalf("load kept %d rows and skipped %d, want 50 and 2", ds.Rows(), ds.Skipped())
	}
}

func TestSchemaValidationReportsEveryProblem(t *testing.T) {
	s := Schema{
		Format: "xml",
		Fields: []Field{{Name: "a", Type: "number"}, {Name: "a", Type: Numeric}, {Name: "v", Type: Vector}},
		Label:  "nope",
		Weight: "v",
	}
	err := s.Validate()
	if err == nil {
		t.Fatal("invalid schema accepted")
	}
	for _, want := range []string{"format: unknown format", "fields[0].type", "fields[1].name: \"a\" appears twice", "fields[2].dim", "label: no field named \"nope\"", "weight: field \"v\" is vector"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation error does not say %q:\n%v", want, err)
		}
	}
	_, err = New(houseSchema, []TransformSpec{
		{Type: "scaler", Inputs: []string{"rooms"}},
		{Type: "standard_scaler", Inputs: []string{"city"}},
		{Type: "one_hot", Inputs: []string{"missing"}},
		{Type: "tfidf", Inputs: []string{"city"}},
	})
	for _, want := range []string{"transforms[0].type: unknown transform \"scaler\"", "transforms[1].inputs[0]: \"city\": a string column is not numeric", "transforms[2].inputs[0]: no field or earlier output named \"missing\"", "transforms[3].inputs[0]: \"city\": tfidf takes text"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("spec error does not say %q:\n%v", want, err)
		}
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	s := Schema{Format: "csv", Fields: []Field{{Name: "x", Type: Numeric}, {Name: "t", Type: Timestamp}, {Name: "v", Type: Vector, Dim: 2}, {Name: "y", Type: Numeric}}, Label: "y"}
	row := s.NewRow()
	cases := []struct{ in, want string }{
		{"1,2024-01-02T03:04:05Z,1 2,0", ""},
		{"a,2024-01-02T03:04:05Z,1 2,0", `field "x": want a number, got "a"`},
		{"1,yesterday,1 2,0", `field "t": "yesterday" is neither`},
		{"1,5,1 2 3,0", `field "v": want 2 numbers`},
		{"1,5,1 2", "3 columns, want 4"},
		{",5,1 2,0", `field "x": missing`},
	}
	for _, c := range cases {
		err := s.Decode(row, []byte(c.in))
		if c.want == "" {
			if err != nil {
				t.Errorf("Decode(%q) = %v", c.in, err)
			} else if row[1].Num != 1704164645 || row[2].Vec[1] != 2 {
				t.Errorf("Decode(%q) = %+v", c.in, row)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%q) = %v, want a FieldError saying %q", c.in, err, c.want)
		}
	}
	js := houseSchema
	jrow := js.NewRow()
	for _, c := range []struct{ in, want string }{
		{`{"rooms": 1, "city": 3, "price": 2, "kind": "flat", "extra": 1}`, `field "extra": not in the schema`},
		{`{"rooms": [1], "city": "x", "price": 2, "kind": "flat"}`, `field "rooms": want a number, got an array`},
		{`[1, 2]`, "not a JSON object"},
		{`{"rooms": 1, "city": "x", "price": 2, "kind": "flat"} {}`, "trailing data"},
	} {
		if err := js.Decode(jrow, []byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%s) = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestPipelineEncodingVersion(t *testing.T) {
	path, _ := houses(t, 30)
	p, _, _ := fitHouses(t, 1, 1, path)
	b, _ := json.Marshal(p)
	var q Pipeline
	if err := json.Unmarshal(b, &q); err != nil || q.Width() != p.Width() || !q.Fitted() {
		t.Fatalf("round trip: %v, width %d", err, q.Width())
	}
	bad := strings.Replace(string(b), `"version":1`, `"version":99`, 1)
	if err := json.Unmarshal([]byte(bad), &q); err == nil || !strings.Contains(err.Error(), "version 99 is not supported") {
		t.Fatalf("unknown version = %v", err)
	}
}

func TestTransformsWithoutFitting(t *testing.T) {
	s := Schema{Fields: []Field{{Name: "a", Type: Numeric}, {Name: "b", Type: Numeric}, {Name: "tags", Type: Categorical}}}
	p, err := New(s, []TransformSpec{
		{Type: "bucketizer", Inputs: []string{"a"}, Splits: []float64{0, 10, 20}, Output: "ab"},
		{Type: "polynomial", Inputs: []string{"a", "b"}, Degree: 2, Output: "poly"},
		{Type: "hashing", Inputs: []string{"tags"}, Buckets: 8, Output: "h"},
		{Type: "assembler", Inputs: []string{"ab", "poly", "h"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Fitted() || p.Width() != 1+5+8 {
		t.Fatalf("fitted %v width %d, want true and 14", p.Fitted(), p.Width())
	}
	row := s.NewRow()
	if err := s.DecodeMap(row, map[string]any{"a": 15.0, "b": 2.0, "tags": "red"}); err != nil {
		t.Fatal(err)
	}
	vec := make([]float64, p.Width())
	if err := p.NewTransformer().Transform(vec, row); err != nil {
		t.Fatal(err)
	}
	// bucket of 15 in splits 0,10,20 is 2; poly(a,b) = a, a², ab, b, b².
	want := []float64{2, 15, 225, 30, 2, 4}
	for i, w := range want {
		if vec[i] != w {
			t.Fatalf("vector %v, want prefix %v", vec[:6], want)
		}
	}
	if vec[6+int(hash2("tags", "red")%8)] != 1 {
		t.Fatalf("hashed tag not set: %v", vec[6:])
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"rooms": 1, "city": "x", "price": 2, "kind": "flat", "area": 3}`), false)
	f.Add([]byte(`1,2024-01-02T03:04:05Z,1 2,0`), true)
	f.Add([]byte(`"a,b",1,,`), true)
	f.Add([]byte{0, 1, 2}, false)
	f.Add([]byte(`{"x": 1, "t": "2024-01-02T03:04:05Z", "v": [1, 2e-3], "c": 7.0, "s": "a\u00e9\ud83d\ude00", "y": {"z": [1e999]}}`), false)
	f.Add([]byte(`{"rooms": 1, "rooms": 2, "c": null} }`), false)
	csv := Schema{Format: "csv", Fields: []Field{{Name: "x", Type: Numeric}, {Name: "t", Type: Timestamp, Optional: true}, {Name: "v", Type: Vector, Dim: 2}, {Name: "c", Type: Categorical, Optional: true}}}
	f.Fuzz(func(t *testing.T, data []byte, isCSV bool) {
		s := houseSchema
		if isCSV {
			s = csv
		}
		if !isCSV {
			checkAgainstMap(t, &s, data)
			for i := range jsonSchemas {
				checkAgainstMap(t, &jsonSchemas[i], data)
			}
		}
		row := s.NewRow()
		err := s.Decode(row, data) // must not panic
		if err == nil {
			for i, fl := range s.Fields {
				if !row[i].Missing && fl.Type == Vector && len(row[i].Vec) != fl.Dim {
					t.Fatalf("decoded vector %s has %d elements, want %d", fl.Name, len(row[i].Vec), fl.Dim)
				}
			}
		}
	})
}
