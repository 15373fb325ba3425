package cluster

import (
	"context"
	"fmt"
)

// ErrOverBudget reports a read that ReadSourceWithin stopped because the
// rows built so far needed more bytes than it allowed.
type ErrOverBudget struct {
	Source Source
	Rows   int   // rows built when the read stopped
	Bytes  int64 // bytes they hold: a lower bound on what the source needs
	Budget int64
}

func (e *ErrOverBudget) Error() string {
	return fmt.Sprintf("cluster: %s: after %d rows the partition holds %d bytes, more than the %d allowed", e.Source, e.Rows, e.Bytes, e.Budget)
}

// ReadSourceWithin is ReadSource that stops as soon as the rows decoded so
// far hold more than budget bytes (as Block.Bytes counts them, once
// trimmed), and fails with *ErrOverBudget: a worker with a memory limit
// learns that a partition does not fit without reading all of it. A
// negative budget means no bound.
func ReadSourceWithin(ctx context.Context, l LogReader, s Source, budget int64) (*Block, error) {
	dec, err := s.Format.rowDecoder()
	if err != nil {
		return nil, err
	}
	hint := 0
	if s.Kind == "log" {
		hint = int(s.To - s.From)
	}
	b := newBuilder(dec, hint, s.Format.Float32)
	err = EachValue(ctx, l, s, func(value []byte, where func() string) error {
		if err := dec.Decode(b, value); err != nil {
			return &DecodeError{Where: where(), Err: err}
		}
		if budget >= 0 {
			if n := b.bytes(); n > budget {
				return &ErrOverBudget{Source: s, Rows: b.Rows(), Bytes: n, Budget: budget}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.Block(), nil
}

// bytes is what the rows added so far hold, without the slices' spare
// capacity (which Block trims).
func (bb *Builder) bytes() int64 {
	b := &bb.b
	return int64(8*(len(b.X)+len(b.Val)+len(b.Y)+len(b.W)+len(b.Ptr)) + 4*(len(b.Ind)+len(b.X32)))
}
