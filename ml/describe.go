package ml

import (
	"math"
	"strconv"
)

// Param is one fitted parameter of a model, named for a person to read: a
// scalar (one value), a short vector (a coefficient per class, a layer's
// shape) or, in Text, a setting that is no number.
type Param struct {
	Name   string
	Values []float64
	Text   string
}

// Describer is optional: a model that lists its fitted parameters by name,
// so that two versions can be compared without their binary encodings.
// Callers check for it with a type assertion; package ml/describe decodes
// an artefact's parameters, whatever the algorithm, and calls it.
type Describer interface {
	// DescribeParams lists the parameters. names, when it has one entry
	// per feature (features.Pipeline.FeatureNames), names the elements of
	// the feature vector; otherwise they are named x[0], x[1], ...
	DescribeParams(names []string) []Param
}

// FeatureName returns names[j] when names has n entries, else "x[j]".
func FeatureName(names []string, n, j int) string {
	if len(names) == n && j < len(names) {
		return names[j]
	}
	return "x[" + strconv.Itoa(j) + "]"
}

// Norm2 is the Euclidean norm of v.
func Norm2(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// DescribeParams implements Describer: the classes, then each feature's
// coefficients (one per class for a multinomial model, else one), the
// intercepts and, for a binomial model, the decision threshold.
func (m *LogisticModel) DescribeParams(names []string) []Param {
	rows, f := len(m.Intercept), m.NumFeatures()
	ps := []Param{{Name: "classes", Values: []float64{float64(m.Classes)}}}
	for j := range f {
		v := make([]float64, rows)
		for r := range rows {
			v[r] = m.Coef[r*f+j]
		}
		ps = append(ps, Param{Name: "coef " + FeatureName(names, f, j), Values: v})
	}
	ps = append(ps, Param{Name: "intercept", Values: append([]float64(nil), m.Intercept...)})
	if !m.Multinomial {
		ps = append(ps, Param{Name: "threshold", Values: []float64{m.Threshold}})
	}
	return ps
}

// DescribeParams implements Describer: each feature's coefficient and the
// intercept.
func (m *LinearModel) DescribeParams(names []string) []Param {
	return linearParams(m.Coef, m.Intercept, names)
}

// DescribeParams implements Describer: each feature's coefficient, the
// intercept and the decision threshold.
func (m *SVMModel) DescribeParams(names []string) []Param {
	return append(linearParams(m.Coef, m.Intercept, names), Param{Name: "threshold", Values: []float64{m.Threshold}})
}

func linearParams(coef []float64, intercept float64, names []string) []Param {
	ps := make([]Param, 0, len(coef)+1)
	for j, c := range coef {
		ps = append(ps, Param{Name: "coef " + FeatureName(names, len(coef), j), Values: []float64{c}})
	}
	return append(ps, Param{Name: "intercept", Values: []float64{intercept}})
}
