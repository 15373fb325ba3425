package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml/als"
)

// ratingsDecoder turns records into (user, item, rating) rows through the
// job's schema, the layout package als reads. A numeric user or item field
// is its integer id; a categorical one is a name, mapped to its id in the
// sorted names of the job's records (ratingsArg.UserKeys, ItemKeys).
const ratingsDecoderName = "trainer.ratings"

type ratingsArg struct {
	Schema             features.Schema
	User, Item, Rating string
	SkipBad            bool
	// UserKeys and ItemKeys are the distinct names of a categorical user
	// or item field in the job's records, sorted (als.SortKeys): a name's
	// id is its position. nil for a numeric field.
	UserKeys, ItemKeys []string
}

type ratingsDecoder struct {
	a             ratingsArg
	row           features.Row
	user, item, r int
	ids           [2]map[string]int64 // name → id of a categorical user, item field
}

func init() {
	cluster.RegisterDecoder(ratingsDecoderName, func(arg []byte) (cluster.RowDecoder, error) {
		var a ratingsArg
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		d := &ratingsDecoder{a: a, row: a.Schema.NewRow(), user: a.Schema.Index(a.User), item: a.Schema.Index(a.Item), r: a.Schema.Index(a.Rating)}
		if d.user < 0 || d.item < 0 || d.r < 0 {
			return nil, errors.New("user, item or rating field missing from the schema")
		}
		for s, keys := range [][]string{a.UserKeys, a.ItemKeys} {
			if keys != nil {
				d.ids[s] = make(map[string]int64, len(keys))
				for id, k := range keys {
					d.ids[s][k] = int64(id)
				}
			}
		}
		return d, nil
	})
}

func (d *ratingsDecoder) Layout() (bool, int) { return false, 3 }

func (d *ratingsDecoder) Decode(b *cluster.Builder, v []byte) error {
	err := d.decode(b, v)
	if err != nil && d.a.SkipBad {
		b.Skip()
		return nil
	}
	return err
}

// id reads the user (side 0) or item (side 1) id of the decoded row.
func (d *ratingsDecoder) id(side int) (float64, error) {
	i, name := d.user, d.a.User
	if side == 1 {
		i, name = d.item, d.a.Item
	}
	v := d.row[i]
	if ids := d.ids[side]; ids != nil {
		id, ok := ids[v.Str]
		if v.Missing || !ok {
			return 0, &features.FieldError{Field: name, Err: fmt.Errorf("id %q is not among the names the job's records hold", v.Str)}
		}
		return float64(id), nil
	}
	x := v.Num
	if v.Missing || x != math.Trunc(x) || math.Abs(x) >= 1<<53 {
		return 0, &features.FieldError{Field: name, Err: fmt.Errorf("want an integer id, got %v", x)}
	}
	return x, nil
}

func (d *ratingsDecoder) decode(b *cluster.Builder, v []byte) error {
	if err := d.a.Schema.Decode(d.row, v); err != nil {
		return err
	}
	u, err := d.id(0)
	if err != nil {
		return err
	}
	it, err := d.id(1)
	if err != nil {
		return err
	}
	r := d.row[d.r]
	if r.Missing {
		return &features.FieldError{Field: d.a.Rating, Err: errors.New("missing")}
	}
	return b.AddDense([]float64{u, it, r.Num}, 0, 1)
}

// keysArg is the broadcast of the names scan: which of the user and item
// fields are categorical.
type keysArg struct {
	Schema               features.Schema
	User, Item           string
	UserNames, ItemNames bool
	SkipBad              bool
}

// keysPartial is the distinct names seen in some sources.
type keysPartial struct {
	Users, Items map[string]bool
	row          features.Row // scratch, not encoded
}

// keysScan collects the distinct names of the categorical user and item
// fields. The result is a set, so it is the same for any number of workers;
// sorting it (als.SortKeys) gives the ids.
var keysScan = cluster.RegisterScan(&cluster.ScanTask[keysArg, keysPartial]{
	Name: "trainer.als_names",
	New:  func(*keysArg) *keysPartial { return &keysPartial{Users: map[string]bool{}, Items: map[string]bool{}} },
	Value: func(a *keysArg, acc *keysPartial, v []byte, where func() string) error {
		if acc.row == nil {
			acc.row = a.Schema.NewRow()
		}
		row := acc.row
		if err := a.Schema.Decode(row, v); err != nil {
			if a.SkipBad {
				return nil // the decoder skips (or dead-letters) it too
			}
			return fmt.Errorf("%s: %w", where(), err)
		}
		for _, s := range []struct {
			on    bool
			field string
			set   map[string]bool
		}{{a.UserNames, a.User, acc.Users}, {a.ItemNames, a.Item, acc.Items}} {
			if f := row[a.Schema.Index(s.field)]; s.on && !f.Missing {
				s.set[f.Str] = true
			}
		}
		return nil
	},
	Combine: func(dst, src *keysPartial) {
		for k := range src.Users {
			dst.Users[k] = true
		}
		for k := range src.Items {
			dst.Items[k] = true
		}
	},
})

// alsNames returns the sorted names of the categorical user and item
// fields of the job's records (nil for a numeric field), by a scan of the
// sources when either is categorical.
func (j *job) alsNames(ctx context.Context, sources []cluster.Source, skip bool) (users, items []string, err error) {
	p, s := j.spec.Algorithm.ALS, j.spec.Schema
	categorical := func(f string) bool { return s.Fields[s.Index(f)].Type == features.Categorical }
	arg := &keysArg{Schema: s, User: p.User, Item: p.Item, UserNames: categorical(p.User), ItemNames: categorical(p.Item), SkipBad: skip}
	if !arg.UserNames && !arg.ItemNames {
		return nil, nil, nil
	}
	j.obs.Phase("collecting user and item names")
	got, err := cluster.Scan(ctx, j.engine, j.opt.Log, sources, keysScan, arg)
	if err != nil {
		return nil, nil, fmt.Errorf("trainer: als: collect the names of %s and %s: %w", p.User, p.Item, err)
	}
	sorted := func(on bool, set map[string]bool) []string {
		if !on {
			return nil
		}
		names := make([]string, 0, len(set))
		for k := range set {
			names = append(names, k)
		}
		return als.SortKeys(names)
	}
	return sorted(arg.UserNames, got.Users), sorted(arg.ItemNames, got.Items), nil
}
