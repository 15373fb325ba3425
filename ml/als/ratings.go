package als

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/flintml/flint/cluster"
)

// Rating is one observation: a user's explicit rating of an item, or for
// implicit feedback the strength of an interaction (a count, a watch time).
type Rating struct {
	User, Item int64
	Value      float64
	// Time orders repeated ratings of one pair (the latest wins); 0 when
	// the source has none.
	Time int64
}

// maxID bounds user and item ids: ratings travel through cluster blocks as
// float64 values, which hold integers exactly up to 2⁵³.
const maxID = 1 << 53

func (r Rating) check() error {
	if r.User <= -maxID || r.User >= maxID || r.Item <= -maxID || r.Item >= maxID {
		return fmt.Errorf("ids must be within ±2⁵³, got user %d, item %d", r.User, r.Item)
	}
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		return fmt.Errorf("rating %v is not a finite number", r.Value)
	}
	return nil
}

// decoderName is the cluster decoder that turns rating records into rows.
const decoderName = "ml.als.ratings"

func init() {
	cluster.RegisterDecoder(decoderName, func(arg []byte) (cluster.RowDecoder, error) {
		switch string(arg) {
		case "csv":
			return ratingDecoder{json: false}, nil
		case "json":
			return ratingDecoder{json: true}, nil
		}
		return nil, fmt.Errorf("als: ratings format %q: want \"csv\" or \"json\"", arg)
	})
}

// Format returns the cluster.Format that decodes rating records, for
// cluster's LoadLog, LoadFiles and LoadSources:
//
//   - "csv": "user,item,rating[,timestamp]", integers for the ids and the
//     timestamp (spaces around fields are ignored);
//   - "json": {"user": 1, "item": 2, "rating": 4.5, "timestamp": 1700000000},
//     the timestamp optional.
//
// Each record becomes a dense row (user, item, rating) whose label is the
// timestamp (0 when absent). Set Header on the result to skip a CSV file's
// first line. Collect and FitDataset read such a dataset back as ratings.
func Format(kind string) cluster.Format {
	return cluster.Format{Kind: "custom", Decoder: decoderName, Arg: []byte(kind)}
}

type ratingDecoder struct{ json bool }

func (ratingDecoder) Layout() (bool, int) { return false, 3 }

func (d ratingDecoder) Decode(b *cluster.Builder, value []byte) error {
	var r Rating
	var err error
	if d.json {
		r, err = parseJSON(value)
	} else {
		r, err = parseCSV(value)
	}
	if err != nil {
		return err
	}
	return b.AddDense([]float64{float64(r.User), float64(r.Item), r.Value}, float64(r.Time), 1)
}

// parseCSV decodes "user,item,rating[,timestamp]".
func parseCSV(line []byte) (Rating, error) {
	var f [4][]byte
	n := 0
	for rest := bytes.TrimRight(line, "\r"); ; n++ {
		if n == 4 {
			return Rating{}, errors.New("want user,item,rating[,timestamp]: more than 4 fields")
		}
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			f[n] = rest
			n++
			break
		}
		f[n], rest = rest[:i], rest[i+1:]
	}
	if n < 3 {
		return Rating{}, fmt.Errorf("want user,item,rating[,timestamp]: %d fields", n)
	}
	var r Rating
	var err error
	if r.User, err = parseID(f[0]); err != nil {
		return r, fmt.Errorf("field 1 (user) %q: %v", f[0], err)
	}
	if r.Item, err = parseID(f[1]); err != nil {
		return r, fmt.Errorf("field 2 (item) %q: %v", f[1], err)
	}
	if r.Value, err = strconv.ParseFloat(string(bytes.TrimSpace(f[2])), 64); err != nil {
		return r, fmt.Errorf("field 3 (rating) %q: not a number", f[2])
	}
	if n == 4 {
		if r.Time, err = strconv.ParseInt(string(bytes.TrimSpace(f[3])), 10, 64); err != nil {
			return r, fmt.Errorf("field 4 (timestamp) %q: not an integer", f[3])
		}
	}
	return r, r.check()
}

func parseID(b []byte) (int64, error) {
	v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, errors.New("not an integer id")
	}
	return v, nil
}

// parseJSON decodes {"user": .., "item": .., "rating": .., "timestamp": ..}.
func parseJSON(value []byte) (Rating, error) {
	var obj struct {
		User, Item, Rating *json.Number
		Timestamp          *json.Number
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return Rating{}, fmt.Errorf("not a JSON object of user, item and rating: %v", err)
	}
	var r Rating
	var err error
	for _, f := range []struct {
		name string
		v    *json.Number
		dst  *int64
	}{{"user", obj.User, &r.User}, {"item", obj.Item, &r.Item}, {"timestamp", obj.Timestamp, &r.Time}} {
		if f.v == nil {
			if f.name == "timestamp" {
				continue
			}
			return r, fmt.Errorf("field %q is missing", f.name)
		}
		if *f.dst, err = f.v.Int64(); err != nil {
			return r, fmt.Errorf("field %q: %s is not an integer", f.name, *f.v)
		}
	}
	if obj.Rating == nil {
		return r, errors.New(`field "rating" is missing`)
	}
	if r.Value, err = obj.Rating.Float64(); err != nil {
		return r, fmt.Errorf(`field "rating": %s is not a number`, *obj.Rating)
	}
	return r, r.check()
}

// ReadCSV reads "user,item,rating[,timestamp]" lines, skipping blank lines
// and, when header is set, the first line. Errors name the line.
func ReadCSV(r io.Reader, header bool) ([]Rating, error) {
	var out []Rating
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Bytes()
		if (header && line == 1) || len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		rt, err := parseCSV(text)
		if err != nil {
			return nil, fmt.Errorf("als: line %d: %w", line, err)
		}
		out = append(out, rt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("als: read ratings: %w", err)
	}
	return out, nil
}

// collectPartial is the ratings of some partitions of a ratings dataset.
type collectPartial struct {
	Ratings []Rating
}

// collectArgs is the broadcast of a collect: the columns a row must have
// (an encodable value; gob refuses empty structs).
type collectArgs struct {
	MinCols int
}

var collectTask = cluster.Register(&cluster.Task[collectArgs, collectPartial]{
	Name: "ml.als.collect",
	New:  func(*collectArgs) *collectPartial { return &collectPartial{} },
	Map: func(_ context.Context, p cluster.Part, a *collectArgs, acc *collectPartial) error {
		b := p.Block
		if b.Rows > 0 && (b.Sparse() || b.Float32() || b.Cols < a.MinCols) {
			return fmt.Errorf("als: partition %d is not rows of (user, item, rating): decode it with als.Format", p.Index)
		}
		acc.Ratings = make([]Rating, b.Rows)
		for i := range b.Rows {
			x := b.Row(i)
			r := Rating{User: int64(x[0]), Item: int64(x[1]), Value: x[2], Time: int64(b.Y[i])}
			if float64(r.User) != x[0] || float64(r.Item) != x[1] {
				return fmt.Errorf("als: partition %d row %d: ids (%v, %v) are not integers", p.Index, i, x[0], x[1])
			}
			if err := r.check(); err != nil {
				return fmt.Errorf("als: partition %d row %d: %w", p.Index, i, err)
			}
			acc.Ratings[i] = r
		}
		return nil
	},
	Combine: func(dst, src *collectPartial) { dst.Ratings = append(dst.Ratings, src.Ratings...) },
})

// Collect reads a dataset of (user, item, rating) rows — as Format decodes
// them from a log topic or files — back to the driver as ratings, in
// partition order.
func Collect(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) ([]Rating, error) {
	p, err := cluster.Aggregate(ctx, x, ds, collectTask, &collectArgs{MinCols: 3})
	if err != nil {
		return nil, err
	}
	return p.Ratings, nil
}

// Split divides ratings at random into a training and a test set, about
// testFraction of them in the test set. The choice for each rating depends
// only on seed and its position.
func Split(ratings []Rating, testFraction float64, seed uint64) (train, test []Rating) {
	test, train = Select(ratings, seed, 0, testFraction)
	return train, test
}

// Select divides ratings by a seeded uniform number drawn for each from
// its position: those whose number falls in [lo, hi) and the others. Fold
// i of k is Select(ratings, seed, i/k, (i+1)/k); Split(r, f, seed) is
// Select(r, seed, 0, f) with the sides swapped.
func Select(ratings []Rating, seed uint64, lo, hi float64) (in, out []Rating) {
	for i, r := range ratings {
		if u := unitHash(seed, uint64(i)); u >= lo && u < hi {
			in = append(in, r)
		} else {
			out = append(out, r)
		}
	}
	return in, out
}

// unitHash maps (seed, i) to a uniform number in [0, 1) (SplitMix64).
func unitHash(seed, i uint64) float64 {
	return float64(mix(seed^mix(i))>>11) / (1 << 53)
}

func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
