package features

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
