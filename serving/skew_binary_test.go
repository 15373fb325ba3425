package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/models"
)

// binarySkewRecords are "y,x,v1 v2" CSV lines with numbers in spellings
// whose float64 and float32 differ, and extremes of both.
var binarySkewRecords = []string{
	"0,0.1,0.2 0.3", "1,1e-7,123456789012345678901234 -0.0", "0,9007199254740993,4.9e-324 1.1754942e-38",
	"1,-12.50,3.4028235e38 -3.4028235e38", "0,1.7976931348623157e308,1e-45 7", "1,0,255 16777217",
}

// TestServingMatchesBinaryTrainingBitForBit: a model trained from a topic
// of binary records (flint ingest --encode) is served from JSON rows; the
// feature vector served for a row equals the cached training row of the
// same record bit for bit, with f64 for the numbers as the CSV line wrote
// them, and with f32 for the numbers rounded to float32 (what f32 ingest
// trains on; records f32 cannot hold are refused at ingest).
func TestServingMatchesBinaryTrainingBitForBit(t *testing.T) {
	for _, enc := range []features.Encoding{features.Float64, features.Float32} {
		t.Run(enc.String(), func(t *testing.T) {
			var lines []string
			for _, r := range binarySkewRecords {
				if enc == features.Float32 && strings.Contains(r, "e308") {
					continue // beyond float32: f32 ingest refuses it
				}
				lines = append(lines, r)
			}
			p, trained := trainBinary(t, enc, lines)
			pj, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			capture := &captureModel{width: p.Width()}
			reg := newRegistry(t)
			publish(t, reg, "bin", &models.Artifact{Algorithm: "capture", Pipeline: pj, Params: []byte("capture")})
			ts := startServer(t, Config{Registry: reg}, withAdapter("capture", capture))
			ts.waitReady(t)
			var rows []string
			for _, line := range lines {
				_, rest, _ := strings.Cut(line, ",")
				x, v, _ := strings.Cut(rest, ",")
				vs := strings.Fields(v)
				lit := func(s string) string {
					if enc == features.Float64 {
						return s // as the CSV line wrote it
					}
					n, err := strconv.ParseFloat(s, 64)
					if err != nil {
						t.Fatal(err)
					}
					return strconv.FormatFloat(float64(float32(n)), 'g', -1, 64)
				}
				rows = append(rows, fmt.Sprintf(`{"x": %s, "v": [%s, %s]}`, lit(x), lit(vs[0]), lit(vs[1])))
			}
			if code, b := ts.do(t, "POST", "/v1/models/bin/predict", `{"rows": [`+strings.Join(rows, ",")+`]}`); code != 200 {
				t.Fatalf("predict: %d %s", code, b)
			}
			served := capture.take()
			if len(served) != len(trained) {
				t.Fatalf("served %d rows, training cached %d", len(served), len(trained))
			}
			for i := range trained {
				if !sameBits(served[i], trained[i]) {
					t.Errorf("record %q: served %v from %s, training cached %v", lines[i], served[i], rows[i], trained[i])
				}
			}
		})
	}
}

// trainBinary ingests the CSV lines into a topic as binary records of the
// encoding, fits a pipeline (x and a min-max-scaled v) on the topic and
// caches it as the trainer does; it returns the pipeline and the cached
// feature rows, in record order.
func trainBinary(t *testing.T, enc features.Encoding, lines []string) (*features.Pipeline, [][]float64) {
	ctx := context.Background()
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), DefaultPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	schema := features.Schema{Format: "csv", Fields: []features.Field{{Name: "y", Type: features.Numeric},
		{Name: "x", Type: features.Numeric}, {Name: "v", Type: features.Vector, Dim: 2}}, Label: "y"}
	if _, err := features.Ingest(ctx, l, strings.NewReader(strings.Join(lines, "\n")), features.IngestOptions{
		Schema: schema, Topic: "bin", Encode: enc}); err != nil {
		t.Fatal(err)
	}
	p, err := features.New(schema, []features.TransformSpec{
		{Type: "minmax_scaler", Inputs: []string{"v"}, Output: "vs"},
		{Type: "assembler", Inputs: []string{"x", "vs"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sources, err := cluster.PlanLog(ctx, l, "bin", cluster.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := trainingRows(t, p, l, sources)
	if len(rows) != len(lines) {
		t.Fatalf("training cached %d rows of %d records", len(rows), len(lines))
	}
	return p, rows
}
