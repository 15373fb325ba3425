package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/flintml/flint/cluster"
)

// This file fits and applies a pipeline on rows cached once, undecoded by
// nothing but the schema: records are parsed once per job instead of once
// to fit the transforms and again to cache the feature rows.
//
//	RawFormat → cached rows of field values (the frame's field slots)
//	FitCached → the transforms' statistics from those rows (a task over floats)
//	TransformCached → each cached row replaced by its feature vector, in place
//
// The statistics come out bit for bit as Fit's: each partition holds one
// source's valid records in order, folded by the same code (stageStats.add)
// and combined in the same tree order. The way is open to pipelines whose
// fit needs nothing but numbers and whose rows cannot turn bad after
// decoding (CachedFit says which); others fit by Fit and cache through
// Format as before.

// cachedFitTypes are the fitted transforms FitCached computes: those whose
// statistics are counts, means, variances and ranges of numbers.
var cachedFitTypes = map[string]bool{"minmax_scaler": true, "standard_scaler": true, "assembler": true}

// CachedFit reports whether the pipeline may be fitted from rows cached
// with RawFormat: every field numeric or a vector and required (so a
// decoded row holds finite numbers only), no weight field, and only
// min-max and standard scalers (on fields) and an assembler as transforms;
// and the feature vector no wider than the cached row, so it can replace it
// in place.
func (p *Pipeline) CachedFit() bool {
	if p.weight >= 0 {
		return false
	}
	for _, f := range p.Schema.Fields {
		if (f.Type != Numeric && f.Type != Vector) || f.Optional {
			return false
		}
	}
	levels := p.levels()
	for i, st := range p.Stages {
		if !cachedFitTypes[st.Spec.Type] || (st.Spec.Type != "assembler" && levels[i] != 0) {
			return false
		}
	}
	return p.width <= p.rawWidth()
}

// rawWidth is the width of a cached raw row: the frame's field slots,
// which come first in the frame.
func (p *Pipeline) rawWidth() int {
	w := 0
	for _, c := range p.cols {
		if c.field >= 0 && !c.str {
			w = max(w, c.off+c.w)
		}
	}
	return w
}

// cachedArg is what travels to workers for the raw decoder, the fit task
// and the in-place transform: the pipeline (unfitted or fitted) and the
// policy for bad records.
type cachedArg struct {
	Pipeline []byte `json:"pipeline"`
	SkipBad  bool   `json:"skip_bad,omitempty"`

	once sync.Once
	p    *Pipeline
	err  error
}

func (a *cachedArg) pipeline() (*Pipeline, error) {
	a.once.Do(func() {
		a.p = new(Pipeline)
		a.err = json.Unmarshal(a.Pipeline, a.p)
	})
	return a.p, a.err
}

const rawDecoderName = "features.raw"

// RawFormat returns the cluster format that decodes records into the
// pipeline's raw rows for FitCached and TransformCached: each field's
// numbers in schema order, with the label and weight Format would give.
// With skipBad, records that do not fit the schema are skipped and counted.
func (p *Pipeline) RawFormat(skipBad bool) (cluster.Format, error) {
	if !p.CachedFit() {
		return cluster.Format{}, errors.New("features: the pipeline cannot be fitted from cached rows (see CachedFit)")
	}
	enc, err := json.Marshal(p)
	if err != nil {
		return cluster.Format{}, err
	}
	arg, err := json.Marshal(cachedArg{Pipeline: enc, SkipBad: skipBad})
	if err != nil {
		return cluster.Format{}, err
	}
	return cluster.Format{Kind: "custom", Decoder: rawDecoderName, Arg: arg}, nil
}

func init() {
	cluster.RegisterDecoder(rawDecoderName, func(arg []byte) (cluster.RowDecoder, error) {
		var a cachedArg
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		p, err := a.pipeline()
		if err != nil {
			return nil, err
		}
		return &rawDecoder{p: p, t: p.NewTransformer(), row: p.Schema.NewRow(), w: p.rawWidth(), skip: a.SkipBad}, nil
	})
}

// rawDecoder decodes records into raw rows. It rejects what Fit's scan
// counts as bad (a record that does not decode or has no label), which
// for a pipeline that CachedFit accepts is also everything Format's decoder
// rejects.
type rawDecoder struct {
	p    *Pipeline
	t    *Transformer
	row  Row
	w    int
	skip bool
}

func (d *rawDecoder) Layout() (bool, int) { return false, d.w }

func (d *rawDecoder) Decode(b *cluster.Builder, value []byte) error {
	err := d.decode(b, value)
	if err != nil && d.skip {
		b.Skip()
		return nil
	}
	return err
}

func (d *rawDecoder) decode(b *cluster.Builder, value []byte) error {
	p := d.p
	if err := p.Schema.Decode(d.row, value); err != nil {
		return err
	}
	if p.label >= 0 && d.row[p.label].Missing {
		return fieldErr(p.Schema.Label, "missing label")
	}
	y, err := p.Label(d.row)
	if err != nil {
		return err
	}
	d.t.loadFields(d.row)
	return b.AddDense(d.t.num[:d.w], y, 1)
}

// loadFields copies a decoded row's numeric fields into the frame.
func (t *Transformer) loadFields(row Row) {
	for _, c := range t.p.cols {
		if c.field < 0 || c.str {
			continue
		}
		v := row[c.field]
		if c.w == 1 {
			t.num[c.off] = v.Num
		} else {
			copy(t.num[c.off:c.off+c.w], v.Vec)
		}
	}
}

var fitCachedTask = cluster.Register(&cluster.Task[cachedArg, fitStats]{
	Name: "features.fitCached",
	New: func(a *cachedArg) *fitStats {
		s := &fitStats{Labels: map[string]float64{}}
		if p, err := a.pipeline(); err == nil {
			s.Stages = make([]stageStats, len(p.Stages))
		}
		return s
	},
	Map: func(ctx context.Context, part cluster.Part, a *cachedArg, s *fitStats) error {
		p, err := a.pipeline()
		if err != nil {
			return err
		}
		t, b, w := p.NewTransformer(), part.Block, p.rawWidth()
		if b.Rows > 0 && (b.Sparse() || b.Cols != w) {
			return fmt.Errorf("features: fit on cached rows: partition %d has %d columns, want the %d of the raw rows", part.Index, b.Cols, w)
		}
		for i := 0; i < b.Rows; i++ {
			copy(t.num[:w], b.DenseRow(i, t.num[:w])) // a float32 row is widened in place
			s.Rows++
			for k, st := range p.Stages {
				if st.Spec.Type == "assembler" {
					continue
				}
				if err := s.Stages[k].add(t, st, 4096, uint64(s.Rows)); err != nil {
					return fmt.Errorf("partition %d row %d: %w", part.Index, i, err)
				}
			}
			if i%4096 == 4095 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	},
	Combine: combineFit,
})

// FitCached fits the pipeline's transforms from ds, rows cached with
// RawFormat: the same parameters Fit learns from the records ds was read
// from. The pipeline must not be in use while it is being fitted.
func (p *Pipeline) FitCached(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (FitReport, error) {
	rep := FitReport{Passes: 1, Rows: int64(ds.Rows() + ds.Skipped()), Bad: int64(ds.Skipped())}
	if !p.CachedFit() {
		return rep, errors.New("features: the pipeline cannot be fitted from cached rows (see CachedFit)")
	}
	if ds.Rows() == 0 {
		return rep, errors.New("features: fit: no valid records to fit on")
	}
	enc, err := json.Marshal(p)
	if err != nil {
		return rep, err
	}
	st, err := cluster.Aggregate(ctx, x, ds, fitCachedTask, &cachedArg{Pipeline: enc})
	if err != nil {
		return rep, fmt.Errorf("features: fit on cached rows: %w", err)
	}
	for i, s := range p.Stages {
		if s.Spec.Type == "assembler" {
			continue
		}
		if err := s.finish(&st.Stages[i]); err != nil {
			return rep, fmt.Errorf("features: fit transforms[%d] (%s): %w", i, s.Spec.Type, err)
		}
	}
	return rep, p.compile()
}

var transformCached = cluster.RegisterTransform(&cluster.Transform[cachedArg]{
	Name:  "features.transformCached",
	Apply: applyCached,
})

// applyCached replaces each raw row of a partition with its feature
// vector (rounded to float32 in a float32 block), in the block's own memory (the vector is never wider than the
// raw row, so row i's output never overwrites a raw row not yet read). A
// row the pipeline rejects (a feature that is not finite) is dropped and
// counted with SkipBad, and fails the partition otherwise.
func applyCached(ctx context.Context, part cluster.Part, a *cachedArg) (*cluster.Block, error) {
	p, err := a.pipeline()
	if err != nil {
		return nil, err
	}
	b, w, out := part.Block, p.rawWidth(), p.Width()
	if b.Rows > 0 && (b.Sparse() || b.Cols != w) {
		return nil, fmt.Errorf("features: transform of cached rows: partition %d has %d columns, want the %d of the raw rows (was it transformed already?)", part.Index, b.Cols, w)
	}
	t, vec := p.NewTransformer(), make([]float64, out)
	kept := 0
	for i := 0; i < b.Rows; i++ {
		copy(t.num[:w], b.DenseRow(i, t.num[:w]))
		if err := t.transformFrame(vec); err != nil {
			if !a.SkipBad {
				return nil, fmt.Errorf("features: cached row %d of partition %d: %w", i, part.Index, err)
			}
			b.Skipped++
			continue
		}
		if b.Float32() {
			for j, v := range vec {
				b.X32[kept*out+j] = float32(v)
			}
		} else {
			copy(b.X[kept*out:(kept+1)*out], vec)
		}
		b.Y[kept] = b.Y[i]
		kept++
		if i%4096 == 4095 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	b.Rows, b.Cols = kept, out
	if b.Float32() {
		b.X32 = b.X32[:kept*out]
	} else {
		b.X = b.X[:kept*out]
	}
	b.Y = b.Y[:kept]
	return b, nil
}

// TransformCached replaces every row of ds, cached with RawFormat, by its
// feature vector through the fitted pipeline, in the partitions' own
// memory, and returns the result as the dataset name; skipBad drops rows
// whose features are not finite instead of failing. ds shares its memory
// with the result and must be dropped, unused, afterwards (a lost partition
// of the result is rebuilt from its sources, decoded and transformed again).
func (p *Pipeline) TransformCached(ctx context.Context, x cluster.Deriver, ds *cluster.Dataset, name string, skipBad bool) (*cluster.Dataset, error) {
	if !p.Fitted() {
		return nil, errors.New("features: the pipeline is not fitted")
	}
	enc, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return cluster.Derive(ctx, x, ds, name, transformCached, &cachedArg{Pipeline: enc, SkipBad: skipBad})
}
