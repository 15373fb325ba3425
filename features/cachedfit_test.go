package features

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
)

// pixelsCSV writes n Fashion-MNIST-shaped CSV records (a label and a
// vector of dim values, magnitudes that make summation order visible) and
// a few bad ones, and returns the file.
func pixelsCSV(t *testing.T, n, dim int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(4, 5))
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "%d,", r.IntN(10))
		for j := 0; j < dim; j++ {
			if j > 0 {
				sb.WriteByte(' ')
			}
			fmt.Fprint(&sb, r.NormFloat64()*math.Pow(10, float64(r.IntN(6)-3)))
		}
		sb.WriteByte('\n')
		switch i {
		case n / 3:
			sb.WriteString("3,1 2\n") // too few elements
		case n / 2:
			sb.WriteString(",1" + strings.Repeat(" 1", dim-1) + "\n") // no label
		}
	}
	p := filepath.Join(t.TempDir(), "pixels.csv")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var pixelSchema = Schema{Format: "csv", Fields: []Field{{Name: "label", Type: Numeric}, {Name: "pixels", Type: Vector, Dim: 5}}, Label: "label"}

// TestCachedFitMatchesScan checks that parsing once (raw rows cached,
// transforms fitted from them, rows transformed in place) gives the
// parameters and the feature rows, bit for bit, of Fit's scan and a load
// through Format, for any number of workers and partitions.
func TestCachedFitMatchesScan(t *testing.T) {
	path := pixelsCSV(t, 3000, 5)
	specs := [][]TransformSpec{
		{{Type: "minmax_scaler", Inputs: []string{"pixels"}, Output: "scaled"}},
		{{Type: "standard_scaler", Inputs: []string{"pixels"}, Output: "z", WithMean: ptr(true)}},
		{{Type: "minmax_scaler", Inputs: []string{"pixels"}, Output: "a"}, {Type: "assembler", Inputs: []string{"a"}, Output: "features"}},
	}
	ctx := context.Background()
	for si, spec := range specs {
		for _, c := range []struct{ workers, parts int }{{1, 1}, {2, 3}, {3, 7}} {
			t.Run(fmt.Sprintf("spec=%d/workers=%d/parts=%d", si, c.workers, c.parts), func(t *testing.T) {
				e := cluster.NewEngine(cluster.Config{Workers: c.workers})
				defer e.Close()
				plan := func() []cluster.Source {
					s, err := cluster.PlanFiles([]string{path}, cluster.FileOptions{Format: cluster.Format{Kind: "csv"}, Partitions: c.parts})
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
				scanned, err := New(pixelSchema, spec)
				if err != nil {
					t.Fatal(err)
				}
				if !scanned.CachedFit() {
					t.Fatal("CachedFit refuses a numeric pipeline of scalers")
				}
				src := plan()
				if _, err := scanned.Fit(ctx, e, nil, src, FitOptions{SkipBad: true}); err != nil {
					t.Fatal(err)
				}
				fm, _ := scanned.Format(true)
				for i := range src {
					src[i].Format = fm
				}
				want, err := e.LoadSources(ctx, nil, "want", src)
				if err != nil {
					t.Fatal(err)
				}

				cached, _ := New(pixelSchema, spec)
				raw, err := cached.RawFormat(true)
				if err != nil {
					t.Fatal(err)
				}
				src = plan()
				for i := range src {
					src[i].Format = raw
				}
				rds, err := e.LoadSources(ctx, nil, "raw", src)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := cached.FitCached(ctx, e, rds)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Bad != 2 || rep.Rows != 3002 {
					t.Fatalf("report %+v, want 3002 records with 2 bad", rep)
				}
				got, err := cached.TransformCached(ctx, e, rds, "got", true)
				if err != nil {
					t.Fatal(err)
				}
				e.Drop(rds)
				a, _ := json.Marshal(scanned)
				b, _ := json.Marshal(cached)
				if string(a) != string(b) {
					t.Fatalf("fitted pipelines differ:\n scan   %s\n cached %s", a, b)
				}
				if got.Rows() != want.Rows() || got.Skipped() != want.Skipped() || got.Cols() != want.Cols() {
					t.Fatalf("cached %d rows (%d skipped, %d cols), scanned %d (%d, %d)", got.Rows(), got.Skipped(), got.Cols(), want.Rows(), want.Skipped(), want.Cols())
				}
				for i := 0; i < got.NumPartitions(); i++ {
					g, _ := e.Block(got, i)
					w, _ := e.Block(want, i)
					if !slices.Equal(g.X, w.X) || !slices.Equal(g.Y, w.Y) {
						t.Fatalf("partition %d: cached feature rows differ from the scanned ones", i)
					}
				}
			})
		}
	}
}

// TestCachedFitRefuses lists pipelines that must take the scanning path.
func TestCachedFitRefuses(t *testing.T) {
	opt := pixelSchema
	opt.Fields = []Field{{Name: "label", Type: Numeric}, {Name: "pixels", Type: Vector, Dim: 5, Optional: true}}
	cat := Schema{Format: "csv", Fields: []Field{{Name: "label", Type: Numeric}, {Name: "c", Type: Categorical}}, Label: "label"}
	for _, c := range []struct {
		name   string
		schema Schema
		specs  []TransformSpec
	}{
		{"optional field", opt, []TransformSpec{{Type: "minmax_scaler", Inputs: []string{"pixels"}, Output: "s"}}},
		{"categorical field", cat, []TransformSpec{{Type: "one_hot", Inputs: []string{"c"}, Output: "s"}}},
		{"imputer", pixelSchema, []TransformSpec{{Type: "imputer", Inputs: []string{"pixels"}, Output: "s"}}},
		{"scaler of a scaler", pixelSchema, []TransformSpec{{Type: "minmax_scaler", Inputs: []string{"pixels"}, Output: "a"}, {Type: "standard_scaler", Inputs: []string{"a"}, Output: "b"}}},
	} {
		p, err := New(c.schema, c.specs)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p.CachedFit() {
			t.Errorf("%s: CachedFit accepts it", c.name)
		}
		if _, err := p.RawFormat(false); err == nil {
			t.Errorf("%s: RawFormat accepts it", c.name)
		}
	}
}

// BenchmarkPrepare turns 5 000 Fashion-shaped CSV records (784 values)
// into min-max-scaled feature rows both ways: a scan to fit then a load
// through the fitted pipeline (parse=twice), and the raw rows cached, the
// scaler fitted from them and the rows transformed in place (parse=once).
//
//	go test ./features -run '^$' -bench Prepare -benchtime 5x
func BenchmarkPrepare(b *testing.B) {
	const n, dim = 5000, 784
	r := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "%d,", r.IntN(10))
		for j := 0; j < dim; j++ {
			if j > 0 {
				sb.WriteByte(' ')
			}
			fmt.Fprint(&sb, r.IntN(256))
		}
		sb.WriteByte('\n')
	}
	path := filepath.Join(b.TempDir(), "pixels.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	schema := Schema{Format: "csv", Fields: []Field{{Name: "label", Type: Numeric}, {Name: "pixels", Type: Vector, Dim: dim}}, Label: "label"}
	spec := []TransformSpec{{Type: "minmax_scaler", Inputs: []string{"pixels"}, Output: "scaled"}}
	ctx := context.Background()
	for _, once := range []bool{false, true} {
		name := "parse=twice"
		if once {
			name = "parse=once"
		}
		b.Run(name, func(b *testing.B) {
			e := cluster.NewEngine(cluster.Config{Workers: 2})
			defer e.Close()
			b.SetBytes(int64(sb.Len()))
			for b.Loop() {
				p, _ := New(schema, spec)
				src, err := cluster.PlanFiles([]string{path}, cluster.FileOptions{Format: cluster.Format{Kind: "csv"}, Partitions: 4})
				if err != nil {
					b.Fatal(err)
				}
				var ds *cluster.Dataset
				if once {
					fm, _ := p.RawFormat(false)
					for i := range src {
						src[i].Format = fm
					}
					raw, err := e.LoadSources(ctx, nil, "raw", src)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := p.FitCached(ctx, e, raw); err != nil {
						b.Fatal(err)
					}
					if ds, err = p.TransformCached(ctx, e, raw, "rows", false); err != nil {
						b.Fatal(err)
					}
					e.Drop(raw)
				} else {
					if _, err := p.Fit(ctx, e, nil, src, FitOptions{}); err != nil {
						b.Fatal(err)
					}
					fm, _ := p.Format(false)
					for i := range src {
						src[i].Format = fm
					}
					if ds, err = e.LoadSources(ctx, nil, "rows", src); err != nil {
						b.Fatal(err)
					}
				}
				e.Drop(ds)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
