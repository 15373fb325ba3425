package kmeans

import (
	"bytes"
	"encoding/gob"
	"reflect"
	"testing"
)

// TestTaskValuesEncode checks that every broadcast and partial survives
// encoding/gob, as it must to reach remote workers.
func TestTaskValuesEncode(t *testing.T) {
	cs := newCentres([]float64{1, 2, 3, 4}, 2, 2, true)
	row := pickedRow{Part: 1, Row: 2, X: []float64{5, 6}}
	for _, v := range []any{
		&cs,
		&lloydArgs{Centres: cs, Far: 2},
		&lloydPartial{Sums: []float64{1, 2, 3, 4}, Weight: []float64{1, 2}, Count: []int64{1, 2}, Cost: 3, Keep: 2,
			Far: []farPoint{{D2: 1, Part: 1, Row: 2, Label: 1, W: 1, X: []float64{1, 2}}}},
		&costPartial{Cost: 1, Weight: []float64{1, 2}, Count: []int64{3, 4}},
		&sampleArgs{Centres: cs, Scale: 0.5, Seed: 1, Round: 2},
		&rowsPartial{Rows: []pickedRow{row}},
		&pickArgs{Centres: cs, Seed: 1, Step: 2},
		&pickPartial{Sum: 1, First: 2, Has: true, Pick: row, Seed: 3, Step: 4},
		&fetchArgs{Refs: []rowRef{{Part: 1, Row: 2}}},
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
