package features

import "fmt"

// ReadsField reports, for each schema field in order, whether the fitted
// pipeline's feature vector depends on it: the field reaches the vector
// directly or through the transforms. The label and weight are read by
// Label and Weight, not by the vector, so they are false unless a
// transform takes them too. Serving requires only these fields.
func (p *Pipeline) ReadsField() []bool {
	needed := map[string]bool{}
	for _, c := range p.final {
		needed[c.name] = true
	}
	for i := len(p.Stages) - 1; i >= 0; i-- {
		st := p.Stages[i]
		if st.Spec.Type != "assembler" && !needed[st.out.name] {
			continue
		}
		for _, c := range st.in {
			needed[c.name] = true
		}
	}
	out := make([]bool, len(p.Schema.Fields))
	for i, f := range p.Schema.Fields {
		out[i] = needed[f.Name]
	}
	return out
}

// NumericInputs reports whether every field the feature vector reads
// (ReadsField) is Numeric or Timestamp: then a row is its fields'
// numbers, and TransformNumbers takes it so.
func (p *Pipeline) NumericInputs() bool {
	for i, r := range p.ReadsField() {
		if t := p.Schema.Fields[i].Type; r && t != Numeric && t != Timestamp {
			return false
		}
	}
	return true
}

// TransformNumbers is Transform for a row given as the numbers of the
// schema's fields, in schema order, NaN for a missing value (what
// ScanNumber reads): the same vector Transform writes for the row whose
// Values have those Nums. The pipeline's NumericInputs must be true; the
// values of the fields it does not read are not used. It never
// allocates.
func (t *Transformer) TransformNumbers(dst, vals []float64) error {
	p := t.p
	if len(dst) != p.width || len(vals) != len(p.Schema.Fields) {
		return fmt.Errorf("features: TransformNumbers: dst has length %d, vals %d, want %d and %d", len(dst), len(vals), p.width, len(p.Schema.Fields))
	}
	for _, r := range p.slotRuns {
		copy(t.num[r.off:r.off+r.n], vals[r.field:r.field+r.n])
	}
	return t.transformFrame(dst)
}
