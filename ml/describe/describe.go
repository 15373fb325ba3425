// Package describe lists the fitted parameters of a model artefact's
// Params by name (ml.Describer), whatever its algorithm, so that two
// versions can be read and compared without their binary encodings.
//
// It decodes as serving does: Params in the ml model envelope go to
// ml.UnmarshalModel (every algorithm registered with ml.RegisterModel:
// linear, logistic, linear SVM, naive Bayes, MLP), and the k-means and ALS
// encodings, which have their own formats, to their packages.
package describe

import (
	"fmt"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/als"
	_ "github.com/flintml/flint/ml/bayes" // registers its model with ml.RegisterModel
	"github.com/flintml/flint/ml/kmeans"
	_ "github.com/flintml/flint/ml/mlp" // registers its models with ml.RegisterModel
)

// Params decodes params, the Params of an artefact whose Algorithm is
// algorithm, and lists its parameters. names, when it has one entry per
// feature, names the feature vector's elements (the fitted pipeline's
// features.Pipeline.FeatureNames).
func Params(algorithm string, params []byte, names []string) ([]ml.Param, error) {
	name := algorithm
	if h, _, err := ml.ParseModel(params); err == nil {
		name = h.Algorithm
	}
	var d ml.Describer
	switch name {
	case "kmeans":
		m := new(kmeans.Model)
		if err := m.UnmarshalBinary(params); err != nil {
			return nil, fmt.Errorf("describe kmeans model: %w", err)
		}
		d = m
	case "als":
		m := new(als.Model)
		if err := m.UnmarshalBinary(params); err != nil {
			return nil, fmt.Errorf("describe als model: %w", err)
		}
		d = m
	default:
		m, err := ml.UnmarshalModel(params)
		if err != nil {
			return nil, fmt.Errorf("describe %s model: %w", name, err)
		}
		var ok bool
		if d, ok = m.(ml.Describer); !ok {
			return nil, fmt.Errorf("describe %s model: %T lists no parameters (it is no ml.Describer)", name, m)
		}
	}
	return d.DescribeParams(names), nil
}
