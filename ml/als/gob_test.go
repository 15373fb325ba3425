package als

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"testing"
)

// TestTaskValuesEncode checks that every broadcast and partial survives
// encoding/gob, as it must to reach remote workers.
func TestTaskValuesEncode(t *testing.T) {
	for _, v := range []any{
		&solveArgs{Rank: 2, Other: []float64{1, 2, 3, 4}, YtY: []float64{1, 0, 0, 1}, Lambda: 0.1, Alpha: 2, Implicit: true, NonNeg: true},
		&solveArgs{Rank: 3, Other: []float64{1, 2, 1}, Lambda: 0.1, OtherBias: []float64{-0.5}, Mean: 3.5},
		&solvedPartial{Blocks: []solvedBlock{{Rows: []int32{0, 3}, F: []float64{1, 2, 3, 4}}}},
		&collectArgs{MinCols: 3},
		&collectPartial{Ratings: []Rating{{User: 1, Item: 2, Value: 3.5, Time: 4}}},
	} {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem())
		if err := gob.NewDecoder(&buf).Decode(back.Interface()); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(back.Interface(), v) {
			t.Errorf("%T: %+v came back as %+v", v, v, back.Interface())
		}
	}
}
