package online

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/models"
)

// resume starts from the latest version of the model, or afresh when it
// has none.
func (r *runner) resume(ctx context.Context) error {
	a, info, err := r.opt.Registry.Latest(ctx, r.name)
	if errors.Is(err, models.ErrNotFound) {
		if r.pipe, err = features.New(r.spec.Schema, r.spec.Transforms); err != nil {
			return fmt.Errorf("online: %w", err)
		}
		if r.pipe.Fitted() { // nothing to learn: no fit buffer
			return r.setup(nil)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("online: resume %s: %w", r.name, err)
	}
	where := fmt.Sprintf("model %s version %d", r.name, info.Version)
	sec, ok := a.Extra[StateSection]
	if !ok {
		return fmt.Errorf("online: %s was not published by flint online (it has no %q section): give output.model another name", where, StateSection)
	}
	st, err := decodeState(sec)
	if err != nil {
		return fmt.Errorf("online: %s: %w", where, err)
	}
	if want := r.spec.Algorithm.name(); st.Algorithm != want {
		return fmt.Errorf("online: %s was trained by %s, the spec asks for %s: give output.model another name", where, st.Algorithm, want)
	}
	if st.Topic != r.spec.Source.Topic {
		return fmt.Errorf("online: %s was trained on topic %q, the spec reads %q: give output.model another name", where, st.Topic, r.spec.Source.Topic)
	}
	r.pipe = new(features.Pipeline)
	if err := json.Unmarshal(a.Pipeline, r.pipe); err != nil {
		return fmt.Errorf("online: %s: %w", where, err)
	}
	want, err := features.New(r.spec.Schema, r.spec.Transforms)
	if err != nil {
		return fmt.Errorf("online: %w", err)
	}
	if !bytes.Equal(definition(want), definition(r.pipe)) {
		return fmt.Errorf("online: the spec's schema or transforms differ from those %s was fitted with (its pipeline is kept from the first start): restore them, or give output.model another name", where)
	}
	if err := r.setup(func(l learner) error { return l.restore(a.Params, st) }); err != nil {
		return fmt.Errorf("online: resume from %s: %w", where, err)
	}
	for _, p := range st.Offsets { // ascending by partition and offset: decodeState checked
		r.offs[p.Partition] = append(r.offs[p.Partition], p)
		r.held[p.Partition] = p.To
	}
	r.records, r.bad = st.Records, st.Bad
	r.log.Info("online: resuming", "model", r.name, "version", info.Version, "records", st.Records, "offsets", lineage(st.Topic, st.Offsets))
	return nil
}

// definition is the schema and transform specs of a pipeline, encoded:
// what a spec decides, without what fitting learnt.
func definition(p *features.Pipeline) []byte {
	specs := make([]features.TransformSpec, len(p.Stages))
	for i, st := range p.Stages {
		specs[i] = st.Spec
	}
	b, _ := json.Marshal(struct {
		Schema     features.Schema
		Transforms []features.TransformSpec
	}{p.Schema, specs})
	return b
}

// setup readies the fitted pipeline, the model (restored by restore when
// it is not nil) and the batch.
func (r *runner) setup(restore func(learner) error) error {
	p := r.pipe
	if r.spec.Algorithm.Logistic != nil && p.Schema.Label != "" {
		if f := p.Schema.Fields[p.Schema.Index(p.Schema.Label)]; f.Type == features.Categorical && len(p.Classes) != 2 {
			return fmt.Errorf("streaming_logistic is binary: label %q has %d classes %v", p.Schema.Label, len(p.Classes), p.Classes)
		}
	}
	r.dim = p.Width()
	l, err := newLearner(r.spec.Algorithm, r.dim)
	if err != nil {
		return err
	}
	if restore != nil {
		if err := restore(l); err != nil {
			return err
		}
	}
	b := r.spec.batch()
	r.l, r.tr, r.row = l, p.NewTransformer(), p.Schema.NewRow()
	r.x, r.y, r.w = make([]float64, b*r.dim), make([]float64, b), make([]float64, b)
	return nil
}

// fit fits the transforms on the buffered records (read again from the
// log, by their offset ranges, as the batch trainer fits them), then
// feeds the records to the model.
func (r *runner) fit(ctx context.Context) error {
	ranges := map[int]*cluster.Source{}
	var sources []cluster.Source
	for _, rec := range r.fitBuf {
		s := ranges[rec.Partition]
		if s == nil {
			s = &cluster.Source{Kind: "log", Topic: rec.Topic, LogPartition: rec.Partition, From: rec.Offset, To: rec.Offset + 1}
			ranges[rec.Partition] = s
		}
		s.From, s.To = min(s.From, rec.Offset), max(s.To, rec.Offset+1)
	}
	for _, s := range ranges {
		sources = append(sources, *s)
	}
	slices.SortFunc(sources, func(a, b cluster.Source) int { return a.LogPartition - b.LogPartition })
	e := cluster.NewEngine(cluster.Config{Workers: 1})
	defer e.Close()
	rep, err := r.pipe.Fit(ctx, e, r.opt.Log, sources, features.FitOptions{SkipBad: r.spec.OnBadRecord == "skip"})
	if err != nil {
		return fmt.Errorf("online: fit the transforms on %d records: %w", len(r.fitBuf), err)
	}
	if err := r.setup(nil); err != nil {
		return fmt.Errorf("online: %w", err)
	}
	r.log.Info("online: fitted the transforms", "records", rep.Rows, "skipped", rep.Bad, "sources", len(sources))
	buf := r.fitBuf
	r.fitBuf = nil
	for i := range buf {
		if err := r.add(ctx, &buf[i]); err != nil {
			return err
		}
	}
	return nil
}
