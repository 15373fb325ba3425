package serving

import (
	"fmt"
	"math"
	"net/http"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml/als"
)

// pairPipeline is the feature pipeline of a pairScorer: the user and item
// ids, as they are.
func pairPipeline() (*features.Pipeline, error) {
	return features.New(features.Schema{Fields: []features.Field{{Name: "user", Type: features.Numeric}, {Name: "item", Type: features.Numeric}}},
		[]features.TransformSpec{{Type: "assembler", Inputs: []string{"user", "item"}}})
}

// maxPairID bounds ids: ALS trains on ids within ±2⁵³.
const maxPairID = 1 << 53

// checkPair checks the (user, item) row in w.row before it is scored: the
// ids must be integers, and a pair whose user or item training did not
// see is left out (keep is false) under the model's cold-start strategy
// "drop", refused with 422 under "nan".
func (lm *loadedModel) checkPair(w *worker, i int, form rowForm) (keep bool, err error) {
	var id [2]int64
	for j := range id {
		v := w.row[j].Num
		if v != math.Trunc(v) || math.Abs(v) >= maxPairID {
			return false, rowError(i, form, fieldErr(lm.fields[j].Name, "%v is not an integer id (within ±2^53)", v))
		}
		id[j] = int64(v)
	}
	userOK, itemOK := lm.pairs.known(id[0], id[1])
	if userOK && itemOK {
		return true, nil
	}
	if lm.pairs.coldStart() == als.ColdStartDrop {
		return false, nil
	}
	what := fmt.Sprintf("user %d", id[0])
	switch {
	case !userOK && !itemOK:
		what = fmt.Sprintf("user %d and item %d were", id[0], id[1])
	case userOK:
		what = fmt.Sprintf("item %d was", id[1])
	default:
		what += " was"
	}
	re := rowError(i, form, fmt.Errorf("%s not seen in training, and the model's cold-start strategy is nan "+
		"(train it with cold_start_strategy drop to leave such pairs out)", what)).(*requestError)
	return false, re.withStatus(http.StatusUnprocessableEntity)
}
