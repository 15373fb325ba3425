// Package batch scores a source — log partitions or files — with a
// published model on a cluster (the in-process engine or remote worker
// processes), partitions in parallel: the offline side of serving, as
// MLlib's model.transform over a DataFrame. Every record goes through the
// model's fitted pipeline and the model exactly as the server scores a row,
// so a batch prediction and a served one agree; the result is the same
// bytes for any number of workers.
//
// Each prediction is one JSON line, in source order:
//
//	{"source":"clicks/2@117","class":"yes","index":1,"probabilities":[0.1,0.9]}
//	{"source":"houses.jsonl:12","value":157416.6}
//	{"source":"points/0@3","cluster":4}
//
// (a classifier without probabilities, the linear SVM, gives class and
// index only). The model is ml's (linear, logistic, MLP, naive Bayes,
// linear SVM) or k-means; ALS recommends through the server's routes and
// is not scored here.
//
// PredictTo hands the lines on as they are made, a wave of sources at a
// time, so its memory is bounded by a wave's lines, not by the source's
// size; SplitLog cuts log partitions into sources of bounded size for it.
package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/kmeans"
	"github.com/flintml/flint/models"
)

// Options configure Predict.
type Options struct {
	// SkipBad skips records that do not fit the model's schema (counted
	// in Result.Skipped) instead of failing with the first one's position.
	SkipBad bool
	// Wave is how many sources are scored at once before their lines are
	// handed on (PredictTo). 0 means DefaultWave.
	Wave int
}

// DefaultWave is Options.Wave's default.
const DefaultWave = 8

// Result is what Predict scored.
type Result struct {
	Lines   []byte // the prediction lines, in source order
	Rows    int    // records scored
	Skipped int    // records that did not fit the schema (Options.SkipBad)
}

// arg is the scan's broadcast: the model, as the artefact holds it.
type arg struct {
	Algorithm string
	Pipeline  []byte
	Params    []byte
	SkipBad   bool
}

// partial is one source's predictions: its lines, in chunks of about
// chunkSize bytes, so that neither a growing source nor the combination of
// sources copies the lines written so far.
type partial struct {
	Chunks  [][]byte
	Rows    int
	Skipped int

	s *scorer // the source's own: scorers keep scratch rows
}

var scan = cluster.RegisterScan(&cluster.ScanTask[arg, partial]{
	Name: "batch.predict",
	New:  func(*arg) *partial { return &partial{} },
	Value: func(a *arg, p *partial, v []byte, where func() string) error {
		if p.s == nil {
			s, err := newScorer(a.Algorithm, a.Pipeline, a.Params)
			if err != nil {
				return err
			}
			p.s = s
		}
		if n := len(p.Chunks); n == 0 || len(p.Chunks[n-1]) >= chunkSize {
			p.Chunks = append(p.Chunks, make([]byte, 0, chunkSize+chunkSlack))
		}
		last := len(p.Chunks) - 1
		line, err := p.s.score(p.Chunks[last], v, where())
		if err != nil {
			if a.SkipBad {
				p.Skipped++
				return nil
			}
			return fmt.Errorf("%s: %w", where(), err)
		}
		p.Chunks[last] = line
		p.Rows++
		return nil
	},
	Combine: func(dst, src *partial) {
		dst.Chunks = append(dst.Chunks, src.Chunks...)
		dst.Rows += src.Rows
		dst.Skipped += src.Skipped
	},
})

// Predict scores every record of sources with the artefact's model on x
// and returns every line. l reads log sources (nil for files).
func Predict(ctx context.Context, x cluster.Scanner, l cluster.LogReader, a *models.Artifact, sources []cluster.Source, opt Options) (*Result, error) {
	var chunks [][]byte // PredictTo hands on each chunk once and keeps none
	n := 0
	res, err := PredictTo(ctx, x, l, a, sources, opt, func(b []byte) error {
		chunks = append(chunks, b)
		n += len(b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Lines = make([]byte, 0, n)
	for _, c := range chunks {
		res.Lines = append(res.Lines, c...)
	}
	return res, nil
}

// PredictTo scores sources as Predict does, Options.Wave of them at a
// time, and hands the lines to emit in source order, a chunk at a time,
// as each wave ends; the Result it returns has no Lines. It stops at the
// first error, from the scan or from emit; the lines emitted before it
// are those of the sources before the failing wave. emit may keep the
// chunks it is given: they are not reused.
func PredictTo(ctx context.Context, x cluster.Scanner, l cluster.LogReader, a *models.Artifact, sources []cluster.Source, opt Options, emit func([]byte) error) (*Result, error) {
	if _, err := newScorer(a.Algorithm, a.Pipeline, a.Params); err != nil {
		return nil, err
	}
	wave := opt.Wave
	if wave <= 0 {
		wave = DefaultWave
	}
	b := &arg{Algorithm: a.Algorithm, Pipeline: a.Pipeline, Params: a.Params, SkipBad: opt.SkipBad}
	res := &Result{}
	for lo := 0; lo < len(sources); lo += wave {
		got, err := cluster.Scan(ctx, x, l, sources[lo:min(lo+wave, len(sources))], scan, b)
		if err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
		for _, c := range got.Chunks {
			if err := emit(c); err != nil {
				return nil, err
			}
		}
		res.Rows += got.Rows
		res.Skipped += got.Skipped
	}
	return res, nil
}

// SplitLog cuts each log source into sources of at most maxRecords
// offsets (files and shorter ranges are kept as they are), so that a
// wave's lines stay bounded however long a partition is.
func SplitLog(sources []cluster.Source, maxRecords int64) []cluster.Source {
	var out []cluster.Source
	for _, s := range sources {
		if s.Kind != "log" || maxRecords <= 0 || s.To-s.From <= maxRecords {
			out = append(out, s)
			continue
		}
		for from := s.From; from < s.To; from += maxRecords {
			part := s
			part.From, part.To = from, min(from+maxRecords, s.To)
			out = append(out, part)
		}
	}
	return out
}

// A partial's chunks are started with room for chunkSize bytes and a line
// more, and closed once they hold chunkSize.
const (
	chunkSize  = 1 << 20
	chunkSlack = 4 << 10
)

// scorer scores one record at a time through the pipeline and the model.
type scorer struct {
	pipe    *features.Pipeline
	tr      *features.Transformer
	row     features.Row
	x       []float64
	pred    []float64
	proba   []float64
	m       ml.Model
	cls     ml.ClassPredictor // nil: a regressor
	probs   ml.Classifier     // nil: no probabilities
	km      *kmeans.Model
	classes []string
}

func newScorer(algorithm string, pipeline, params []byte) (*scorer, error) {
	if len(pipeline) == 0 {
		return nil, fmt.Errorf("batch: the %s model has no feature pipeline (ALS models are scored through the server's recommendation routes)", algorithm)
	}
	s := &scorer{pipe: new(features.Pipeline)}
	if err := json.Unmarshal(pipeline, s.pipe); err != nil {
		return nil, fmt.Errorf("batch: the model's pipeline: %w", err)
	}
	var width int
	if algorithm == "kmeans" {
		s.km = new(kmeans.Model)
		if err := s.km.UnmarshalBinary(params); err != nil {
			return nil, fmt.Errorf("batch: decode the kmeans model: %w", err)
		}
		width = s.km.Dim
	} else {
		m, err := ml.UnmarshalModel(params)
		if err != nil {
			return nil, fmt.Errorf("batch: decode the %s model: %w", algorithm, err)
		}
		s.m, width = m, m.NumFeatures()
		s.cls, _ = m.(ml.ClassPredictor)
		s.probs, _ = m.(ml.Classifier)
		if s.cls != nil {
			s.classes = s.pipe.Classes
			if len(s.classes) != s.cls.NumClasses() {
				s.classes = nil
				for k := range s.cls.NumClasses() {
					s.classes = append(s.classes, strconv.Itoa(k))
				}
			}
			if s.probs != nil {
				s.proba = make([]float64, s.probs.NumClasses())
			}
		}
	}
	if width != s.pipe.Width() {
		return nil, fmt.Errorf("batch: the model takes %d features, its pipeline makes %d", width, s.pipe.Width())
	}
	s.tr, s.row, s.x, s.pred = s.pipe.NewTransformer(), s.pipe.Schema.NewRow(), make([]float64, width), make([]float64, 1)
	return s, nil
}

// score appends the prediction line of one record to dst.
func (s *scorer) score(dst, value []byte, where string) ([]byte, error) {
	if err := s.pipe.Schema.Decode(s.row, value); err != nil {
		return dst, err
	}
	if err := s.tr.Transform(s.x, s.row); err != nil {
		return dst, err
	}
	dst = append(dst, `{"source":`...)
	dst = appendQuoted(dst, where)
	switch {
	case s.km != nil:
		c, err := s.km.Predict(s.x)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"cluster":`...)
		dst = strconv.AppendInt(dst, int64(c), 10)
	case s.cls != nil:
		s.m.PredictBatch(s.pred, s.x, 1)
		k := int(s.pred[0])
		if k < 0 || k >= len(s.classes) {
			return dst, fmt.Errorf("the model predicted class %v of %d", s.pred[0], len(s.classes))
		}
		dst = append(dst, `,"class":`...)
		dst = strconv.AppendQuote(dst, s.classes[k])
		dst = append(dst, `,"index":`...)
		dst = strconv.AppendInt(dst, int64(k), 10)
		if s.probs != nil {
			s.probs.ProbaBatch(s.proba, s.x, 1)
			dst = append(dst, `,"probabilities":[`...)
			for j, p := range s.proba {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst, _ = appendFinite(dst, p)
			}
			dst = append(dst, ']')
		}
	default:
		s.m.PredictBatch(s.pred, s.x, 1)
		var ok bool
		dst = append(dst, `,"value":`...)
		if dst, ok = appendFinite(dst, s.pred[0]); !ok {
			return dst, errors.New("the prediction is not a finite number: the row is outside what the model can score")
		}
	}
	return append(dst, "}\n"...), nil
}

// appendQuoted appends s as a JSON string: as it is between quotes when it
// holds only printable ASCII other than quote and backslash (a source's
// topic and offset, or a file's path and line, almost always do), else
// escaped.
func appendQuoted(dst []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return strconv.AppendQuote(dst, s)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendFinite appends v in its shortest form, or null when it is not
// finite (false).
func appendFinite(dst []byte, v float64) ([]byte, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...), false
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64), true
}
