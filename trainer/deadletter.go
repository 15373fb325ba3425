package trainer

import (
	"context"
	"fmt"
	"strings"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
)

// badArg is the broadcast of the scan that collects bad records.
type badArg struct {
	Schema features.Schema
	Limit  int
}

// badRecords are the records of one source that do not fit the schema.
type badRecords struct {
	Values [][]byte
	Where  []string
	Errs   []string
	Total  int
}

// maxDeadLetters bounds the bad records one job collects in memory.
const maxDeadLetters = 100000

var badScan = cluster.RegisterScan(&cluster.ScanTask[badArg, badRecords]{
	Name: "trainer.badRecords",
	New:  func(*badArg) *badRecords { return &badRecords{} },
	Value: func(a *badArg, acc *badRecords, v []byte, where func() string) error {
		row := a.Schema.NewRow() // bad records are rare; this scan runs only when some exist
		if err := a.Schema.Decode(row, v); err == nil {
			return nil
		} else {
			acc.Total++
			if len(acc.Values) < a.Limit {
				acc.Values = append(acc.Values, append([]byte(nil), v...))
				acc.Where = append(acc.Where, where())
				acc.Errs = append(acc.Errs, err.Error())
			}
		}
		return nil
	},
	Combine: func(dst, src *badRecords) {
		dst.Total += src.Total
		for i := range src.Values {
			if len(dst.Values) >= maxDeadLetters {
				break
			}
			dst.Values = append(dst.Values, src.Values[i])
			dst.Where = append(dst.Where, src.Where[i])
			dst.Errs = append(dst.Errs, src.Errs[i])
		}
	},
})

// deadLetter appends the records that do not fit the schema to the spec's
// dead-letter topic, each with headers saying where it came from and why it
// was rejected. It returns how many it appended.
func (j *job) deadLetter(ctx context.Context, schema features.Schema, sources []cluster.Source) (int, error) {
	if j.opt.Log == nil {
		return 0, fmt.Errorf("trainer: dead_letter_topic %s needs a log", j.spec.DeadLetter)
	}
	bad, err := cluster.Scan(ctx, j.engine, j.opt.Log, sources, badScan, &badArg{Schema: schema, Limit: maxDeadLetters})
	if err != nil {
		return 0, err
	}
	recs := make([]log.Record, len(bad.Values))
	for i := range bad.Values {
		recs[i] = log.Record{Value: bad.Values[i], Headers: []log.Header{
			{Key: "flint.source", Value: []byte(bad.Where[i])},
			{Key: "flint.error", Value: []byte(bad.Errs[i])},
			{Key: "flint.job", Value: []byte(j.spec.Name)},
		}}
	}
	for start := 0; start < len(recs); start += 1000 {
		end := min(start+1000, len(recs))
		if err := j.opt.Log.Append(ctx, j.spec.DeadLetter, recs[start:end]); err != nil {
			return start, fmt.Errorf("trainer: append bad records to %s: %w (%d were appended)", j.spec.DeadLetter, err, start)
		}
	}
	if bad.Total > len(recs) {
		j.log.Warn("trainer: more bad records than the dead-letter bound", "bad", bad.Total, "sent", len(recs), "bound", maxDeadLetters,
			"first", strings.Join(bad.Errs[:min(3, len(bad.Errs))], "; "))
	}
	return len(recs), nil
}
