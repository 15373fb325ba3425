package features

import (
	"fmt"
	"testing"
)

// BenchmarkTransformNumbers is one row of 100 numeric fields through the
// fitted pipelines a served model runs most: an imputer then a standard
// scaler, a min-max scaler, each feeding the assembler. Serving's
// numeric rows take this path once per row (rows/s).
//
//	go test ./features -run '^$' -bench TransformNumbers
func BenchmarkTransformNumbers(b *testing.B) {
	const n = 100
	var fields []Field
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("f%d", i))
		fields = append(fields, Field{Name: names[i], Type: Numeric, Optional: true})
	}
	ones, halves := make([]float64, n), make([]float64, n)
	for i := range ones {
		ones[i], halves[i] = 1, 0.5
	}
	for _, c := range []struct {
		name  string
		specs []TransformSpec
		fit   func(p *Pipeline)
	}{
		{"imputer+standard", []TransformSpec{
			{Type: "imputer", Inputs: names, Output: "filled"},
			{Type: "standard_scaler", Inputs: []string{"filled"}, Output: "scaled"},
			{Type: "assembler", Inputs: []string{"scaled"}},
		}, func(p *Pipeline) { p.Stages[0].Fill, p.Stages[1].Mean, p.Stages[1].Scale = halves, halves, ones }},
		{"minmax", []TransformSpec{
			{Type: "minmax_scaler", Inputs: names, Output: "scaled"},
			{Type: "assembler", Inputs: []string{"scaled"}},
		}, func(p *Pipeline) { p.Stages[0].Lo, p.Stages[0].Hi = halves, ones }},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := New(Schema{Fields: fields}, c.specs)
			if err != nil {
				b.Fatal(err)
			}
			c.fit(p)
			if !p.Fitted() {
				b.Fatal("not fitted")
			}
			t := p.NewTransformer()
			vals, dst := make([]float64, n), make([]float64, p.Width())
			for i := range vals {
				vals[i] = float64(i) / n
			}
			for b.Loop() {
				if err := t.TransformNumbers(dst, vals); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
