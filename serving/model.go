package serving

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/internal/jsonscan"
	"github.com/flintml/flint/models"
)

// loadedModel is one model version ready to serve: its fitted pipeline and
// what predicts (or recommends). It is immutable once built and safe for
// concurrent use; per-request scratch comes from its worker pool.
type loadedModel struct {
	name       string
	version    int
	versionStr string
	algorithm  string

	pipeline *features.Pipeline // nil when the model takes no rows
	pred     predictor          // nil when the model does not predict rows
	pairs    pairScorer         // pred, when it scores (user, item) rows
	rec      recommender        // nil when the model does not recommend
	kind     outputKind
	proba    bool     // a classifier that gives class probabilities
	width    int      // feature vector length
	classes  []string // class names of a classifier, in index order

	fields      []features.Field    // the schema's fields
	input       []bool              // the pipeline reads fields[i] (features.Pipeline.ReadsField); others are ignored
	feat        *modelFeatures      // the streaming features the server fills in; nil for none
	featureAge  prometheus.Observer // seconds from a served key's last event to the request
	index       map[string]int      // field name -> index in fields
	inputValues int                 // values in one row of the schema's fields (a vector field counts its dim)
	strict      bool                // Config.StrictFields: refuse the fields the pipeline does not read
	numeric     bool                // the pipeline reads only numbers, and no pairs: native rows are read as numbers (readNumbers)
	keys        []string            // fields[i].Name as a JSON string without escapes, "" when it needs some (jsonscan.PlainKey)
	run         features.NumberRun  // the leading fields read by the pipeline, Numeric and with plain keys (readNumbers reads them in one loop)

	workers sync.Pool // *worker
	obs     sync.Map  // obsKey -> *observers: the request metrics' series of this version, resolved once

	// JSON written into every response, prepared once.
	nativeHead []byte   // {"model":…,"version":…,["classes":[…],]"predictions":[
	classHead  [][]byte // per class: {"class":…,"index":k,"probabilities":[
	v2Head     []byte   // {"model_name":…,"model_version":…
}

// newLoadedModel prepares an artefact for serving.
func newLoadedModel(adapters map[string]adapter, name string, info models.VersionInfo, a *models.Artifact) (*loadedModel, error) {
	impl, err := decodeModel(adapters, a)
	if err != nil {
		return nil, err
	}
	lm := &loadedModel{name: name, version: info.Version, versionStr: strconv.Itoa(info.Version), algorithm: a.Algorithm}
	lm.pred, _ = impl.(predictor)
	lm.rec, _ = impl.(recommender)
	if lm.pred == nil && lm.rec == nil {
		return nil, fmt.Errorf("algorithm %q neither predicts rows nor recommends", a.Algorithm)
	}
	if lm.pred != nil {
		p := new(features.Pipeline)
		ps, pairs := impl.(pairScorer)
		switch {
		case pairs && len(a.Pipeline) == 0:
			lm.pairs = ps
			if p, err = pairPipeline(ps.named()); err != nil {
				return nil, err
			}
		case len(a.Pipeline) == 0:
			return nil, errors.New("the artefact has no feature pipeline")
		default:
			if err := json.Unmarshal(a.Pipeline, p); err != nil {
				return nil, err
			}
		}
		if !p.Fitted() {
			return nil, errors.New("the feature pipeline is not fitted")
		}
		if p.Width() != lm.pred.numFeatures() {
			return nil, fmt.Errorf("the pipeline makes %d features, the model takes %d", p.Width(), lm.pred.numFeatures())
		}
		lm.pipeline, lm.width, lm.kind = p, p.Width(), lm.pred.output()
		s := &p.Schema
		lm.fields = s.Fields
		lm.input = p.ReadsField()
		lm.numeric = p.NumericInputs() && lm.pairs == nil
		lm.index = make(map[string]int, len(s.Fields))
		lm.keys = make([]string, len(s.Fields))
		for i, f := range s.Fields {
			lm.index[f.Name] = i
			lm.keys[i], _ = jsonscan.PlainKey(f.Name)
			lm.inputValues += max(1, f.Dim) // every field: tensors of those not read are taken too
		}
		read := 0 // a field the pipeline does not read ends the run: it is skipped, not read
		for read < len(lm.input) && lm.input[read] {
			read++
		}
		lm.run = features.NewNumberRun(lm.fields[:read], lm.keys[:read])
		if lm.kind == classification {
			lm.proba = hasProbabilities(lm.pred)
			k := lm.pred.numClasses()
			if len(p.Classes) == k {
				lm.classes = p.Classes
			} else {
				for i := range k {
					lm.classes = append(lm.classes, strconv.Itoa(i))
				}
			}
		}
	}
	lm.prepareJSON()
	p := lm.pipeline
	lm.workers.New = func() any {
		w := new(worker)
		if p != nil {
			w.t = p.NewTransformer()
			w.row = p.Schema.NewRow()
			w.seen = make([]uint32, len(p.Schema.Fields))
			w.nums = make([]float64, len(p.Schema.Fields))
		}
		return w
	}
	return lm, nil
}

func (lm *loadedModel) prepareJSON() {
	b := []byte(`{"model":`)
	b = appendJSONString(b, lm.name)
	b = append(b, `,"version":`...)
	b = append(b, lm.versionStr...)
	if lm.kind == classification {
		b = append(b, `,"classes":[`...)
		for i, c := range lm.classes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, c)
		}
		b = append(b, ']')
		lm.classHead = make([][]byte, len(lm.classes))
		for i, c := range lm.classes {
			h := appendJSONString([]byte(`{"class":`), c)
			h = append(h, `,"index":`...)
			h = strconv.AppendInt(h, int64(i), 10)
			if lm.proba {
				h = append(h, `,"probabilities":[`...)
			} else {
				h = append(h, '}')
			}
			lm.classHead[i] = h
		}
	}
	lm.nativeHead = append(b, `,"predictions":[`...)
	v := appendJSONString([]byte(`{"model_name":`), lm.name)
	v = append(v, `,"model_version":`...)
	lm.v2Head = appendJSONString(v, lm.versionStr)
}

// labelOrWeight reports whether fields[j] is the label or the weight.
func (lm *loadedModel) labelOrWeight(j int) bool {
	s := &lm.pipeline.Schema
	return lm.fields[j].Name == s.Label || lm.fields[j].Name == s.Weight
}

// worker is per-goroutine scratch for one model, pooled in loadedModel.
type worker struct {
	t    *features.Transformer
	row  features.Row
	feat []float64 // a row's streaming feature values
	nums []float64 // a row read as its fields' numbers (readNumbers)
	seen []uint32  // seen[i] == gen: field i was given in the current row
	gen  uint32
	sc   jsonscan.Scanner

	// Rows are transformed into x and predicted a chunk at a time (see
	// chunkValues), so that memory does not grow with the model's width.
	x, pred, proba []float64
	pending        int  // rows in x not predicted yet
	rows           int  // rows decoded; pred holds the first rows-pending
	wantProba      bool // predict the probabilities of a classifier too
	out            []byte

	tensors []tensor // V2 inputs
	kept    []int    // of a pairScorer: the request's rows that were scored (see checkPair)
}

func (lm *loadedModel) getWorker() *worker { return lm.workers.Get().(*worker) }

// maxPooled bounds the scratch a pooled worker keeps, so that one huge
// batch does not pin its buffers.
const maxPooled = 4 << 20

func (lm *loadedModel) putWorker(w *worker) {
	if cap(w.x)*8 > maxPooled || cap(w.out) > maxPooled || cap(w.proba)*8 > maxPooled {
		return
	}
	lm.workers.Put(w)
}

// chunkValues bounds the feature values of the rows a worker holds before
// it predicts them.
const chunkValues = 1 << 16

// chunkRows is how many rows of features a worker holds at most.
func (lm *loadedModel) chunkRows() int { return max(1, chunkValues/lm.width) }

// begin readies w for a request.
func (w *worker) begin(wantProba bool) {
	w.rows, w.pending, w.wantProba = 0, 0, wantProba
	w.x, w.pred, w.proba, w.kept = w.x[:0], w.pred[:0], w.proba[:0], w.kept[:0]
}

// addRow transforms w.row (w.nums, when nums: see readNumbers) into the
// next feature vector, predicting the pending ones when the chunk is full.
// i is the row's index in the request.
func (lm *loadedModel) addRow(w *worker, i int, form rowForm, nums bool) error {
	var ids [2]int64
	if lm.pairs != nil {
		var keep bool
		var err error
		if ids, keep, err = lm.checkPair(w, i, form); err != nil || !keep {
			return err
		}
		w.kept = append(w.kept, i)
	}
	d := lm.width
	need := (w.pending + 1) * d
	if cap(w.x) < need {
		x := make([]float64, need, min(max(need, 2*cap(w.x)), lm.chunkRows()*d))
		copy(x, w.x[:w.pending*d])
		w.x = x
	}
	w.x = w.x[:need]
	if lm.pairs != nil { // the resolved ids are the features
		w.x[w.pending*d], w.x[w.pending*d+1] = float64(ids[0]), float64(ids[1])
	} else if err := lm.transform(w, w.x[w.pending*d:need], nums); err != nil {
		return rowError(i, form, err)
	}
	w.pending++
	w.rows++
	if w.pending == lm.chunkRows() {
		return lm.flush(w)
	}
	return nil
}

// transform writes the feature vector of w.row, or of w.nums, into dst.
func (lm *loadedModel) transform(w *worker, dst []float64, nums bool) error {
	if nums {
		return w.t.TransformNumbers(dst, w.nums)
	}
	return w.t.Transform(dst, w.row)
}

// flush predicts the pending rows into w.pred (and w.proba).
func (lm *loadedModel) flush(w *worker) error {
	n := w.pending
	if n == 0 {
		return nil
	}
	done := w.rows - n
	w.pred = growKeep(w.pred, w.rows)
	var pb []float64
	if w.wantProba && lm.proba {
		k := len(lm.classes)
		w.proba = growKeep(w.proba, w.rows*k)
		pb = w.proba[done*k : w.rows*k]
	}
	w.pending = 0
	return lm.pred.predict(w.pred[done:w.rows], pb, w.x[:n*lm.width], n)
}

// growKeep returns b resized to n, keeping its values.
func growKeep(b []float64, n int) []float64 {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]float64, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// classIndex checks a classifier's prediction.
func (lm *loadedModel) classIndex(p float64) (int, error) {
	k := int(p)
	if float64(k) != p || k < 0 || k >= len(lm.classes) {
		return 0, fmt.Errorf("model %s version %d predicted class %v of %d", lm.name, lm.version, p, len(lm.classes))
	}
	return k, nil
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat appends f as a JSON number; JSON has no NaN or infinities,
// so those are null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
