package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/models"
)

// captureModel is a regression model that keeps the feature vectors it is
// asked to predict: what serving made of the rows.
type captureModel struct {
	width int
	mu    sync.Mutex
	rows  [][]float64
}

func (*captureModel) output() outputKind { return regression }
func (m *captureModel) numFeatures() int { return m.width }
func (*captureModel) numClasses() int    { return 0 }

func (m *captureModel) predict(pred, _, x []float64, rows int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range rows {
		m.rows = append(m.rows, append([]float64(nil), x[i*m.width:(i+1)*m.width]...))
		pred[i] = 0
	}
	return nil
}

func (m *captureModel) take() [][]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rows
	m.rows = nil
	return r
}

// skewRecord is one training record as JSON literals, in every spelling a
// client may use.
type skewRecord struct{ c, x, flag string }

var skewRecords = []skewRecord{
	{"7", "3", "true"}, {"7.0", "3.0", "false"}, {"7.00", "3e0", `"yes"`}, {"0.7e1", "0.30e1", "true"},
	{"70E-1", "1.5E+2", `"no"`}, {"1e2", "-0.0", "false"}, {"100", "1e-7", "true"}, {"100.0", "0.1", "false"},
	{"0.10", "0.10", "true"}, {"0.1", "1E-1", "false"}, {"1E-1", "123456789012345678901234", "true"},
	{`"7"`, "-12.50", "false"}, {`"7.0"`, "9007199254740993", "true"}, {"true", "2", "false"},
	{"false", "-3", "true"}, {"-0", "0", "false"}, {"0", "4.9e-324", "true"},
	{"12345678901234567890", "1.7976931348623157e308", "false"}, {"12345678901234567891", "5", "true"},
	{`"a\u0062c"`, "6", "false"}, {"-12.5e0", "7", "true"},
}

func (r skewRecord) json(label bool) string {
	s := fmt.Sprintf(`{"c": %s, "x": %s, "flag": %s`, r.c, r.x, r.flag)
	if label {
		s += `, "y": 1`
	}
	return s + "}"
}

// trainSkew fits a one-hot pipeline on the records and caches them as the
// trainer does (features.Pipeline.Format on the engine); it returns the
// pipeline and the cached feature rows, in record order.
func trainSkew(t *testing.T) (*features.Pipeline, [][]float64) {
	var lines []string
	for _, r := range skewRecords {
		lines = append(lines, r.json(true))
	}
	path := filepath.Join(t.TempDir(), "train.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	schema := features.Schema{Fields: []features.Field{{Name: "c", Type: features.Categorical}, {Name: "x", Type: features.Numeric},
		{Name: "flag", Type: features.Categorical}, {Name: "y", Type: features.Numeric}}, Label: "y"}
	p, err := features.New(schema, []features.TransformSpec{
		{Type: "one_hot", Inputs: []string{"c"}, Output: "c_oh", HandleUnknown: "ignore"},
		{Type: "one_hot", Inputs: []string{"flag"}, Output: "flag_oh", HandleUnknown: "ignore"},
		{Type: "assembler", Inputs: []string{"c_oh", "x", "flag_oh"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sources, err := cluster.PlanFiles([]string{path}, cluster.FileOptions{Format: cluster.Format{Kind: "jsonl"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	rows := trainingRows(t, p, nil, sources)
	if len(rows) != len(skewRecords) {
		t.Fatalf("training cached %d rows of %d records", len(rows), len(skewRecords))
	}
	return p, rows
}

// trainingRows fits p on sources as a training job does, on an engine of
// one worker, caches the rows through its format, and returns them.
func trainingRows(t *testing.T, p *features.Pipeline, l cluster.LogReader, sources []cluster.Source) [][]float64 {
	t.Helper()
	ctx := context.Background()
	e := cluster.NewEngine(cluster.Config{Workers: 1})
	defer e.Close()
	if _, err := p.Fit(ctx, e, l, sources, features.FitOptions{}); err != nil {
		t.Fatal(err)
	}
	format, err := p.Format(false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sources {
		sources[i].Format = format
	}
	ds, err := e.LoadSources(ctx, l, "train", sources)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]float64
	for i := 0; i < ds.NumPartitions(); i++ {
		b, err := e.Block(ds, i)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < b.Rows; j++ {
			rows = append(rows, append([]float64(nil), b.Row(j)...))
		}
	}
	return rows
}

// v2Datatype names the V2 datatype of a JSON literal.
func v2LiteralType(lit string) string {
	switch {
	case strings.HasPrefix(lit, `"`):
		return "BYTES"
	case lit == "true" || lit == "false":
		return "BOOL"
	}
	return "FP64"
}

// TestServingMatchesTrainingBitForBit: records whose categorical and
// numeric fields arrive in every JSON spelling are cached by training and
// served through the native API and V2 on a real server; every served
// feature vector equals training's cached row, bit for bit.
func TestServingMatchesTrainingBitForBit(t *testing.T) {
	p, trained := trainSkew(t)
	// Every category seen in training is one one-hot column: a miss at
	// serving would be a row of zeros there.
	pj, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	capture := &captureModel{width: p.Width()}
	reg := newRegistry(t)
	publish(t, reg, "skew", &models.Artifact{Algorithm: "capture", Pipeline: pj, Params: []byte("capture")})
	ts := startServer(t, Config{Registry: reg}, withAdapter("capture", capture))
	ts.waitReady(t)

	var rows []string
	for _, r := range skewRecords {
		rows = append(rows, r.json(false))
	}
	if code, b := ts.do(t, "POST", "/v1/models/skew/predict", `{"rows": [`+strings.Join(rows, ",")+`]}`); code != 200 {
		t.Fatalf("native predict: %d %s", code, b)
	}
	compareSkew(t, "native", capture.take(), trained)

	for i, r := range skewRecords {
		tensor := func(name, lit string) string {
			return fmt.Sprintf(`{"name": %q, "shape": [1], "datatype": %q, "data": [%s]}`, name, v2LiteralType(lit), lit)
		}
		body := `{"inputs": [` + tensor("c", r.c) + "," + tensor("x", r.x) + "," + tensor("flag", r.flag) + "]}"
		if code, b := ts.do(t, "POST", "/v2/models/skew/infer", body); code != 200 {
			t.Fatalf("V2 infer of record %d: %d %s", i, code, b)
		}
	}
	compareSkew(t, "V2", capture.take(), trained)
}

func compareSkew(t *testing.T, api string, served, trained [][]float64) {
	t.Helper()
	if len(served) != len(trained) {
		t.Fatalf("%s: served %d rows, training cached %d", api, len(served), len(trained))
	}
	for i := range trained {
		if !sameBits(served[i], trained[i]) {
			t.Errorf("%s: record %d %s: served %v, training cached %v", api, i, skewRecords[i].json(false), served[i], trained[i])
		}
	}
}
