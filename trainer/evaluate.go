package trainer

import (
	"context"
	"fmt"
	"math"

	"github.com/flintml/flint/ml"
)

// modelFit is a fitted ml.Model: a supervised model of feature rows.
type modelFit struct{ m ml.Model }

func fitModel(m ml.Model, err error) (fitted, error) {
	if err != nil {
		return nil, err
	}
	return modelFit{m}, nil
}

func (m modelFit) score(ctx context.Context, f *fitEnv, d data, names []string) (map[string]float64, error) {
	ds := d.(rowsData).ds
	ev, err := ml.Evaluate(ctx, f.engine, ds, m.m)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(names))
	for _, n := range names {
		v, err := ev.Value(n)
		if math.IsNaN(v) {
			return nil, fmt.Errorf("trainer: metric %s is NaN on %d rows: %s", n, ds.Rows(), nanCause(n))
		}
		if err != nil {
			return nil, fmt.Errorf("trainer: metric %s: %w", n, err)
		}
		out[n] = v
	}
	return out, nil
}

func (m modelFit) encode(*fitEnv) (string, []byte, error) {
	params, err := m.m.MarshalBinary()
	return m.m.Algorithm(), params, err
}

// nanCause says why a metric of feature rows can be NaN.
func nanCause(metric string) string {
	switch metric {
	case "auc":
		return "the rows hold a single class, so there is no pair to rank"
	case "r2":
		return "the label is constant on these rows"
	case "f1", "precision", "recall":
		return "no row is predicted or labelled as the positive class"
	case "silhouette":
		return "every row falls in one cluster"
	}
	return "the model predicts NaN (non-finite features or coefficients)"
}

// needLabel reports a supervised algorithm in a spec without a label.
func needLabel(s *Spec, path string, at func(path, format string, args ...any)) {
	if s.Schema.Label == "" {
		at(path, "a supervised algorithm needs schema.label")
	}
}
