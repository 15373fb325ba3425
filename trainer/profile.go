package trainer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features/drift"
)

// profileSection is the artefact section holding the training rows'
// profile (drift.Profile as JSON): what a monitor compares served rows
// with.
const profileSection = "profile"

// maxProfileCols bounds the feature vectors a profile is taken of: wider
// ones (feature hashing, TF-IDF) are left without one.
const maxProfileCols = 4096

// maxProfileValues bounds the values sampled for a profile (16 MB).
const maxProfileValues = 1 << 21

// maxProfilePassValues bounds the values one sampling pass holds (2 MB):
// the sample is taken a few columns at a time, each column's profile
// needing only its own values, so that a wide one is never held whole
// beside the cached rows.
const maxProfilePassValues = 1 << 18

type profileArg struct {
	Every  int // take every Every-th row of each partition
	Lo, Hi int // of its columns [Lo, Hi); Hi 0 means all
}

type profileRows struct {
	Cols int
	X    []float64
}

// profileTask gathers an evenly spaced sample of the cached feature rows.
var profileTask = cluster.Register(&cluster.Task[profileArg, profileRows]{
	Name: "trainer.profile.sample",
	New:  func(*profileArg) *profileRows { return &profileRows{} },
	Map: func(_ context.Context, part cluster.Part, b *profileArg, acc *profileRows) error {
		blk := part.Block
		if blk.Sparse() || blk.Rows == 0 {
			return nil
		}
		lo, hi := b.Lo, b.Hi
		if hi == 0 {
			hi = blk.Cols
		}
		if lo < 0 || hi > blk.Cols || lo >= hi {
			return fmt.Errorf("trainer: profile columns [%d, %d) of partition %d, which has %d", lo, hi, part.Index, blk.Cols)
		}
		acc.Cols = hi - lo
		row := make([]float64, blk.Cols) // a float32 row, widened
		// Sized exactly: the sample is garbage once profiled, and growing
		// it would leave as much again behind.
		acc.X = make([]float64, 0, (blk.Rows+b.Every-1)/b.Every*acc.Cols)
		for i := 0; i < blk.Rows; i += b.Every {
			acc.X = append(acc.X, blk.DenseRow(i, row)[lo:hi]...)
		}
		return nil
	},
	Combine: func(dst, src *profileRows) {
		dst.Cols = max(dst.Cols, src.Cols)
		dst.X = append(dst.X, src.X...)
	},
})

// profile takes the profile of the training rows for the artefact: nil
// for ratings, sparse rows or vectors wider than maxProfileCols.
func (j *job) profile(ctx context.Context, env *fitEnv, train data) ([]byte, error) {
	rd, ok := train.(rowsData)
	if !ok || env.pipe == nil || env.pipe.Width() > maxProfileCols || rd.rows() == 0 {
		return nil, nil
	}
	// At most drift.MaxRows rows and maxProfileValues values: a profile's
	// deciles need a few thousand rows, not a second copy of wide data.
	width := env.pipe.Width()
	want := min(drift.MaxRows, max(1, maxProfileValues/width))
	every := max(1, (rd.rows()+want-1)/want)
	// A pass samples the same rows' values of a few columns; each
	// column's profile is built from them as from the whole sample.
	step := max(1, maxProfilePassValues/want)
	names := env.pipe.FeatureNames()
	prof := &drift.Profile{Columns: make([]drift.Column, 0, width)}
	for lo := 0; lo < width; lo += step {
		hi := min(width, lo+step)
		parts, cols, err := sampleRows(ctx, rd, &profileArg{Every: every, Lo: lo, Hi: hi})
		if err != nil {
			return nil, fmt.Errorf("trainer: sample the training rows for their profile: %w", err)
		}
		if cols == 0 {
			return nil, nil // sparse rows
		}
		p, err := drift.BuildParts(parts, cols, names[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("trainer: %w", err)
		}
		prof.Rows = max(prof.Rows, p.Rows)
		prof.Columns = append(prof.Columns, p.Columns...)
	}
	return json.Marshal(prof)
}

// sampleRows runs profileTask and returns the partitions' samples in
// partition order, the rows Aggregate's tree would join, left unjoined:
// joining them would hold the sample twice.
func sampleRows(ctx context.Context, rd rowsData, arg *profileArg) (parts [][]float64, cols int, err error) {
	partials, err := rd.x.MapPartitions(ctx, rd.ds, profileTask.Name, arg)
	if err != nil {
		return nil, 0, err
	}
	parts = make([][]float64, 0, len(partials))
	for i, p := range partials {
		r, ok := p.(*profileRows)
		if !ok {
			return nil, 0, fmt.Errorf("partition %d returned %T, want %T", i, p, r)
		}
		cols = max(cols, r.Cols)
		if len(r.X) > 0 {
			parts = append(parts, r.X)
		}
	}
	return parts, cols, nil
}
