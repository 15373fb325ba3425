package serving

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml/als"
)

// pairPipeline is the feature pipeline of a pairScorer: the fields "user"
// and "item", numeric for integer ids and categorical for string ids
// (named says which), which the requests' rows are decoded into. Its
// transforms never run on a pair: checkPair resolves the two ids and
// addRow writes them as the row's features. The transforms only give the
// pipeline its width of 2 (an assembler of numbers, or a 2-bucket hashing
// that accepts strings).
func pairPipeline(named [2]bool) (*features.Pipeline, error) {
	fields := []features.Field{{Name: "user", Type: features.Numeric}, {Name: "item", Type: features.Numeric}}
	tr := features.TransformSpec{Type: "assembler", Inputs: []string{"user", "item"}}
	for j, n := range named {
		if n {
			fields[j].Type = features.Categorical
			tr = features.TransformSpec{Type: "hashing", Inputs: []string{"user", "item"}, Buckets: 2}
		}
	}
	return features.New(features.Schema{Fields: fields}, []features.TransformSpec{tr})
}

// maxPairID bounds ids: ALS trains on ids within ±2⁵³.
const maxPairID = 1 << 53

var pairSides = [2]string{"user", "item"}

// pairID reads the id of side j (0 user, 1 item) of the row in w.row: an
// integer, or a name the model maps to its id. shown is how errors name
// the id.
func (lm *loadedModel) pairID(w *worker, i, j int, form rowForm) (id int64, known bool, shown string, err error) {
	v := w.row[j]
	if lm.pairs.named()[j] {
		id, known = lm.pairs.byName(j, v.Str)
		return id, known, strconv.Quote(v.Str), nil
	}
	if v.Num != math.Trunc(v.Num) || math.Abs(v.Num) >= maxPairID {
		return 0, false, "", rowError(i, form, fieldErr(lm.fields[j].Name, "%v is not an integer id (within ±2^53)", v.Num))
	}
	id = int64(v.Num)
	return id, lm.pairs.knownID(j, id), strconv.FormatInt(id, 10), nil
}

// checkPair resolves the (user, item) row in w.row to the model's ids
// before it is scored: the ids must be integers (or, for a model trained
// on string ids, names), and a pair whose user or item training did not
// see is left out (keep is false) under the model's cold-start strategy
// "drop", refused with 422 under "nan".
func (lm *loadedModel) checkPair(w *worker, i int, form rowForm) (ids [2]int64, keep bool, err error) {
	var ok [2]bool
	var shown [2]string
	for j := range ids {
		if ids[j], ok[j], shown[j], err = lm.pairID(w, i, j, form); err != nil {
			return ids, false, err
		}
	}
	if ok[0] && ok[1] {
		return ids, true, nil
	}
	if lm.pairs.coldStart() == als.ColdStartDrop {
		return ids, false, nil
	}
	what := "user " + shown[0]
	switch {
	case !ok[0] && !ok[1]:
		what = fmt.Sprintf("user %s and item %s were", shown[0], shown[1])
	case ok[0]:
		what = fmt.Sprintf("item %s was", shown[1])
	default:
		what += " was"
	}
	re := rowError(i, form, fmt.Errorf("%s not seen in training, and the model's cold-start strategy is nan "+
		"(train it with cold_start_strategy drop to leave such pairs out)", what)).(*requestError)
	return ids, false, re.withStatus(http.StatusUnprocessableEntity)
}
