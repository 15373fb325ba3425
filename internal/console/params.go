package console

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/describe"
	"github.com/flintml/flint/models"
)

// maxParamRows bounds the parameters the compare page lists: a model of
// many features has a coefficient per feature.
const maxParamRows = 200

// paramsCompare is the two versions' parameters side by side, as
// ml/describe lists them, by name.
type paramsCompare struct {
	Rows       []paramRow
	ErrA, ErrB string // why a version's parameters cannot be listed
	Hidden     int    // rows left out beyond maxParamRows (those that differ least)
}

type paramRow struct {
	Name       string
	A, B       string
	HasA, HasB bool
	Diff       bool   // the values differ as shown (6 significant digits)
	Change     string // B − A, for scalars in both
}

// describeArtifact lists an artefact's parameters, naming features by its
// fitted pipeline where it has one (decoded by features).
func describeArtifact(a *models.Artifact) ([]ml.Param, error) {
	if len(a.Params) == 0 {
		return nil, errors.New("this version holds no parameters")
	}
	var names []string
	if len(a.Pipeline) > 0 {
		var p features.Pipeline
		if err := json.Unmarshal(a.Pipeline, &p); err == nil {
			names = p.FeatureNames()
		}
	}
	return describe.Params(a.Algorithm, a.Params, names)
}

func compareParams(a, b *models.Artifact) paramsCompare {
	var pc paramsCompare
	pa, err := describeArtifact(a)
	if err != nil {
		pc.ErrA = err.Error()
	}
	pb, err := describeArtifact(b)
	if err != nil {
		pc.ErrB = err.Error()
	}
	if pa == nil && pb == nil {
		return pc
	}
	byName := map[string]int{} // name → row
	var rows []paramRow
	var av, bv [][]float64 // values, by row
	row := func(name string) int {
		i, ok := byName[name]
		if !ok {
			i = len(rows)
			byName[name] = i
			rows = append(rows, paramRow{Name: name})
			av, bv = append(av, nil), append(bv, nil)
		}
		return i
	}
	for _, p := range pa {
		i := row(p.Name)
		rows[i].A, rows[i].HasA, av[i] = formatParam(p), true, p.Values
	}
	for _, p := range pb {
		i := row(p.Name)
		rows[i].B, rows[i].HasB, bv[i] = formatParam(p), true, p.Values
	}
	score := make([]float64, len(rows)) // how much a row differs, to choose what to show
	for i := range rows {
		r := &rows[i]
		r.Diff = r.HasA != r.HasB || r.A != r.B
		if r.HasA && r.HasB && len(av[i]) == 1 && len(bv[i]) == 1 {
			r.Change = strconv.FormatFloat(bv[i][0]-av[i][0], 'g', 6, 64)
		}
		switch {
		case !r.Diff:
		case len(av[i]) != len(bv[i]):
			score[i] = math.Inf(1)
		default:
			for k := range av[i] {
				d := math.Abs(bv[i][k]-av[i][k]) / math.Max(1, math.Max(math.Abs(av[i][k]), math.Abs(bv[i][k])))
				if d > score[i] || math.IsNaN(d) {
					score[i] = d
				}
			}
			if score[i] == 0 {
				score[i] = math.SmallestNonzeroFloat64 // differs in text
			}
		}
	}
	if len(rows) > maxParamRows {
		order := make([]int, len(rows))
		for i := range order {
			order[i] = i
		}
		// Keep the rows that differ most, then show them in the models' order.
		slices.SortStableFunc(order, func(x, y int) int { return -cmpScore(score[x], score[y]) })
		keep := order[:maxParamRows]
		slices.Sort(keep)
		kept := make([]paramRow, len(keep))
		for j, i := range keep {
			kept[j] = rows[i]
		}
		pc.Hidden = len(rows) - maxParamRows
		rows = kept
	}
	pc.Rows = rows
	return pc
}

func cmpScore(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// formatParam shows a parameter's values, 6 significant digits each.
func formatParam(p ml.Param) string {
	if p.Text != "" {
		return p.Text
	}
	s := make([]string, len(p.Values))
	for i, v := range p.Values {
		s[i] = strconv.FormatFloat(v, 'g', 6, 64)
	}
	return strings.Join(s, ", ")
}
