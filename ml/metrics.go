package ml

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/internal/tile"
)

// Metrics over prediction slices. Every function takes optional sample
// weights w (nil means 1 for every row) and panics when the slices'
// lengths disagree, a programmer error; labels that are not what a metric
// needs are data, and come back as errors.

func checkLen(what string, n int, others ...int) {
	for _, m := range others {
		if m != n && m >= 0 {
			panic(fmt.Sprintf("ml: %s: slices of lengths %d and %d", what, n, m))
		}
	}
}

func wlen(w []float64) int {
	if w == nil {
		return -1
	}
	return len(w)
}

func weight(w []float64, i int) float64 {
	if w == nil {
		return 1
	}
	return w[i]
}

// RMSE is the root of the weighted mean squared error.
func RMSE(y, pred, w []float64) float64 {
	checkLen("RMSE", len(y), len(pred), wlen(w))
	var s, ws float64
	for i := range y {
		e := pred[i] - y[i]
		s += weight(w, i) * e * e
		ws += weight(w, i)
	}
	return math.Sqrt(s / ws)
}

// MAE is the weighted mean absolute error.
func MAE(y, pred, w []float64) float64 {
	checkLen("MAE", len(y), len(pred), wlen(w))
	var s, ws float64
	for i := range y {
		s += weight(w, i) * math.Abs(pred[i]-y[i])
		ws += weight(w, i)
	}
	return s / ws
}

// R2 is the coefficient of determination 1 − SSE/SST, with SST the weighted
// squared deviation of y from its weighted mean.
func R2(y, pred, w []float64) float64 {
	checkLen("R2", len(y), len(pred), wlen(w))
	var ws, ym float64
	for i := range y {
		ws += weight(w, i)
		ym += weight(w, i) * y[i]
	}
	ym /= ws
	var sse, sst float64
	for i := range y {
		e := pred[i] - y[i]
		sse += weight(w, i) * e * e
		d := y[i] - ym
		sst += weight(w, i) * d * d
	}
	return 1 - sse/sst
}

// Accuracy is the weighted fraction of rows with pred equal to y.
func Accuracy(y, pred, w []float64) float64 {
	checkLen("Accuracy", len(y), len(pred), wlen(w))
	var hit, ws float64
	for i := range y {
		if pred[i] == y[i] {
			hit += weight(w, i)
		}
		ws += weight(w, i)
	}
	return hit / ws
}

func classIndex(what string, v float64, k, row int) (int, error) {
	c := int(v)
	if float64(c) != v || c < 0 || c >= k {
		return 0, fmt.Errorf("ml: %s: %v at row %d is not a class index in [0, %d)", what, v, row, k)
	}
	return c, nil
}

// Confusion is a weighted confusion matrix: Counts[t*K+p] is the weight of
// the rows of true class t predicted as class p.
type Confusion struct {
	K      int
	Counts []float64
}

// NewConfusion counts the rows of y (true classes) and pred (predicted
// classes), both class indices below k.
func NewConfusion(k int, y, pred, w []float64) (*Confusion, error) {
	checkLen("NewConfusion", len(y), len(pred), wlen(w))
	c := &Confusion{K: k, Counts: make([]float64, k*k)}
	for i := range y {
		t, err := classIndex("NewConfusion: label", y[i], k, i)
		if err != nil {
			return nil, err
		}
		p, err := classIndex("NewConfusion: prediction", pred[i], k, i)
		if err != nil {
			return nil, err
		}
		c.Counts[t*k+p] += weight(w, i)
	}
	return c, nil
}

func (c *Confusion) total() float64 {
	var s float64
	for _, v := range c.Counts {
		s += v
	}
	return s
}

// Accuracy is the weight on the diagonal over the total.
func (c *Confusion) Accuracy() float64 {
	var hit float64
	for k := 0; k < c.K; k++ {
		hit += c.Counts[k*c.K+k]
	}
	return hit / c.total()
}

// Precision of class k: of the rows predicted k, the fraction truly k (0
// when none is predicted k).
func (c *Confusion) Precision(k int) float64 {
	var col float64
	for t := 0; t < c.K; t++ {
		col += c.Counts[t*c.K+k]
	}
	if col == 0 {
		return 0
	}
	return c.Counts[k*c.K+k] / col
}

// Recall of class k: of the rows truly k, the fraction predicted k (0 when
// there are none).
func (c *Confusion) Recall(k int) float64 {
	var row float64
	for p := 0; p < c.K; p++ {
		row += c.Counts[k*c.K+p]
	}
	if row == 0 {
		return 0
	}
	return c.Counts[k*c.K+k] / row
}

// F1 of class k is the harmonic mean of its precision and recall.
func (c *Confusion) F1(k int) float64 {
	p, r := c.Precision(k), c.Recall(k)
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func (c *Confusion) macro(f func(int) float64) float64 {
	var s float64
	for k := 0; k < c.K; k++ {
		s += f(k)
	}
	return s / float64(c.K)
}

// MacroPrecision, MacroRecall and MacroF1 average the per-class values
// with equal weight per class.
func (c *Confusion) MacroPrecision() float64 { return c.macro(c.Precision) }

// MacroRecall: see MacroPrecision.
func (c *Confusion) MacroRecall() float64 { return c.macro(c.Recall) }

// MacroF1: see MacroPrecision.
func (c *Confusion) MacroF1() float64 { return c.macro(c.F1) }

// probability clipping, as scikit-learn's log_loss.
const probEps = 1e-15

// LogLoss is the weighted mean of −log p(yᵢ), proba holding k
// probabilities per row (row-major).
func LogLoss(y, proba []float64, k int, w []float64) (float64, error) {
	checkLen("LogLoss", len(y)*k, len(proba))
	checkLen("LogLoss", len(y), wlen(w))
	var s, ws float64
	for i := range y {
		c, err := classIndex("LogLoss: label", y[i], k, i)
		if err != nil {
			return 0, err
		}
		p := min(max(proba[i*k+c], probEps), 1-probEps)
		s -= weight(w, i) * math.Log(p)
		ws += weight(w, i)
	}
	return s / ws, nil
}

// scored is one row's score for the area under the ROC curve.
type scored struct {
	Score, Label, Weight float64
}

// AUC is the exact area under the ROC curve of scores for labels 0 and 1:
// the weighted probability that a positive row scores above a negative
// one, ties counting one half (the Mann–Whitney statistic). It fails
// unless both classes have positive weight.
func AUC(y, score, w []float64) (float64, error) {
	checkLen("AUC", len(y), len(score), wlen(w))
	s := make([]scored, len(y))
	for i := range y {
		if y[i] != 0 && y[i] != 1 {
			return 0, fmt.Errorf("ml: AUC: label %v at row %d is not 0 or 1", y[i], i)
		}
		if math.IsNaN(score[i]) {
			return 0, fmt.Errorf("ml: AUC: score at row %d is NaN", i)
		}
		s[i] = scored{score[i], y[i], weight(w, i)}
	}
	sort.Slice(s, func(a, b int) bool { return s[a].Score < s[b].Score })
	return aucSorted(s)
}

// aucSorted sweeps rows sorted by ascending score, a group of tied scores
// at a time.
func aucSorted(s []scored) (float64, error) {
	var area, negBelow, pos, neg float64
	for lo := 0; lo < len(s); {
		hi := lo
		var gp, gn float64
		for ; hi < len(s) && s[hi].Score == s[lo].Score; hi++ {
			if s[hi].Label == 1 {
				gp += s[hi].Weight
			} else {
				gn += s[hi].Weight
			}
		}
		area += gp * (negBelow + gn/2)
		negBelow += gn
		pos += gp
		neg += gn
		lo = hi
	}
	if pos == 0 || neg == 0 {
		return math.NaN(), fmt.Errorf("ml: AUC: needs rows of both classes, got positive weight %v and negative weight %v", pos, neg)
	}
	return area / (pos * neg), nil
}

// Metrics are a model's scores on a dataset. Fields that do not apply to
// the model (R2 for a classifier, AUC for more than two classes, LogLoss
// for a classifier without probabilities) are NaN.
type Metrics struct {
	Rows   int
	Weight float64
	// Regression.
	RMSE, MAE, R2 float64
	// Classification; Precision, Recall and F1 are those of class 1 for
	// two classes and macro averages for more.
	Accuracy, Precision, Recall, F1, LogLoss, AUC float64
	Confusion                                     *Confusion
}

// metricNames maps each metric name to whether larger is better.
var metricNames = map[string]bool{
	"rmse": false, "mae": false, "r2": true,
	"accuracy": true, "precision": true, "recall": true, "f1": true, "logloss": false, "auc": true,
}

// LargerIsBetter reports whether a metric improves as it grows, and
// whether the name is known.
func LargerIsBetter(metric string) (better, ok bool) {
	better, ok = metricNames[metric]
	return better, ok
}

// Value returns the named metric: rmse, mae, r2, accuracy, precision,
// recall, f1, logloss or auc.
func (m *Metrics) Value(name string) (float64, error) {
	var v float64
	switch name {
	case "rmse":
		v = m.RMSE
	case "mae":
		v = m.MAE
	case "r2":
		v = m.R2
	case "accuracy":
		v = m.Accuracy
	case "precision":
		v = m.Precision
	case "recall":
		v = m.Recall
	case "f1":
		v = m.F1
	case "logloss":
		v = m.LogLoss
	case "auc":
		v = m.AUC
	default:
		return 0, fmt.Errorf("ml: unknown metric %q: want rmse, mae, r2, accuracy, precision, recall, f1, logloss or auc", name)
	}
	if math.IsNaN(v) {
		return v, fmt.Errorf("ml: metric %q does not apply to this model and data", name)
	}
	return v, nil
}

// evalArg is the broadcast of an evaluation: the encoded model.
type evalArg struct {
	Model []byte
}

// evalPartial accumulates what every metric needs.
type evalPartial struct {
	Rows       int64
	Weight     float64
	SSE, SAE   float64
	YMean, YM2 float64   // weighted moments of the labels, for R²
	Counts     []float64 // confusion, K×K
	LogLoss    float64
	Scores     []scored // two classes: sorted by score, for the exact AUC
}

var evalTask = cluster.Register(&cluster.Task[evalArg, evalPartial]{
	Name:    "ml.evaluate",
	New:     func(*evalArg) *evalPartial { return &evalPartial{} },
	Map:     evalMap,
	Combine: combineEval,
})

// sparseRower is implemented by models that predict a CSR row without
// densifying it (LinearModel, LogisticModel, SVMModel); Evaluate uses it.
type sparseRower interface {
	// predictSparse writes the row's prediction to pred[0] and its scores
	// to score (see evalScores).
	predictSparse(pred, score []float64, ind []int32, val []float64)
}

// marginer is a binary ClassPredictor without probabilities that ranks
// rows by a margin (SVMModel); Evaluate takes its AUC from the margins.
type marginer interface {
	Margins(dst, x []float64, rows int)
}

// evalScores is the number of scores per row Evaluate reads from m:
// NumClasses probabilities for a Classifier, the margin for a marginer, 0
// otherwise.
func evalScores(m Model) int {
	switch m := m.(type) {
	case Classifier:
		return m.NumClasses()
	case marginer:
		return 1
	}
	return 0
}

func evalMap(ctx context.Context, p cluster.Part, a *evalArg, acc *evalPartial) error {
	m, err := UnmarshalModel(a.Model)
	if err != nil {
		return err
	}
	b := p.Block
	d := m.NumFeatures()
	if b.Cols != d {
		return fmt.Errorf("ml: evaluate: partition %d has %d features, the model %d", p.Index, b.Cols, d)
	}
	k := 0
	if cp, ok := m.(ClassPredictor); ok {
		k = cp.NumClasses()
		acc.Counts = make([]float64, k*k)
	}
	ns := evalScores(m)
	// Rows go to the model a chunk at a time: dense rows as they are cached,
	// CSR rows one by one when the model reads them (sparseRower), else
	// written into a dense scratch chunk of at most 4 Mi values.
	chunk := 256
	sr, _ := m.(sparseRower)
	var dense []float64
	switch {
	case b.Sparse() && sr != nil:
		chunk = 1
	case b.Sparse():
		chunk = max(1, min(chunk, (4<<20)/max(d, 1)))
		dense = make([]float64, chunk*d)
	case b.Float32(): // widened a chunk at a time
		dense = make([]float64, chunk*d)
	}
	score := make([]float64, chunk*max(ns, 1))
	pred := make([]float64, chunk)
	for lo := 0; lo < b.Rows; lo += chunk {
		if lo%(64*chunk) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		hi := min(lo+chunk, b.Rows)
		n := hi - lo
		switch {
		case b.Float32():
			x := dense[:n*d]
			tile.Widen(x, b.X32[lo*d:hi*d])
			predictDense(m, pred[:n], score[:n*ns], x, n)
		case !b.Sparse():
			predictDense(m, pred[:n], score[:n*ns], b.X[lo*d:hi*d], n)
		case sr != nil:
			ind, val := b.SparseRow(lo)
			sr.predictSparse(pred[:1], score[:max(ns, 1)], ind, val)
		default:
			x := dense[:n*d]
			for i := 0; i < n; i++ {
				ind, val := b.SparseRow(lo + i)
				for t, j := range ind {
					x[i*d+int(j)] = val[t]
				}
			}
			predictDense(m, pred[:n], score[:n*ns], x, n)
			for i := 0; i < n; i++ { // clear what was set, not the whole chunk
				ind, _ := b.SparseRow(lo + i)
				for _, j := range ind {
					x[i*d+int(j)] = 0
				}
			}
		}
		if err := acc.add(b, p.Index, lo, k, ns, pred[:n], score); err != nil {
			return err
		}
	}
	acc.Rows = int64(b.Rows)
	sort.Slice(acc.Scores, func(i, j int) bool { return lessScored(acc.Scores[i], acc.Scores[j]) })
	return nil
}

// predictDense writes the predictions of n dense rows into pred and their
// scores (see evalScores) into score.
func predictDense(m Model, pred, score, x []float64, n int) {
	m.PredictBatch(pred, x, n)
	switch m := m.(type) {
	case Classifier:
		m.ProbaBatch(score, x, n)
	case marginer:
		m.Margins(score, x, n)
	}
}

// add accumulates the rows [lo, lo+len(pred)) of b, predicted pred with ns
// scores each in score; k is the number of classes, 0 for a regressor.
func (acc *evalPartial) add(b *cluster.Block, part, lo, k, ns int, pred, score []float64) error {
	for i := range pred {
		row := lo + i
		w, y := b.Weight(row), b.Y[row]
		if k == 0 {
			e := pred[i] - y
			acc.SSE += w * e * e
			acc.SAE += w * math.Abs(e)
			// Welford's weighted update of the label moments.
			acc.Weight += w
			if w > 0 {
				dy := y - acc.YMean
				acc.YMean += dy * w / acc.Weight
				acc.YM2 += w * dy * (y - acc.YMean)
			}
			continue
		}
		t, err := classIndex("evaluate: label", y, k, row)
		if err != nil {
			return fmt.Errorf("%w of partition %d", err, part)
		}
		pc, err := classIndex("evaluate: prediction", pred[i], k, row)
		if err != nil {
			return err
		}
		acc.Counts[t*k+pc] += w
		acc.Weight += w
		sc := score[i*ns : (i+1)*ns]
		switch {
		case ns == k: // probabilities
			acc.LogLoss -= w * math.Log(min(max(sc[t], probEps), 1-probEps))
			if k == 2 {
				acc.Scores = append(acc.Scores, scored{sc[1], y, w})
			}
		case ns == 1 && k == 2: // a margin
			acc.Scores = append(acc.Scores, scored{sc[0], y, w})
		}
	}
	return nil
}

// lessScored orders by score, then label and weight, so that merged lists
// are the same whatever the partitioning of ties.
func lessScored(a, b scored) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	if a.Label != b.Label {
		return a.Label < b.Label
	}
	return a.Weight < b.Weight
}

func combineEval(dst, src *evalPartial) {
	wa, wb := dst.Weight, src.Weight
	dst.Rows += src.Rows
	dst.SSE += src.SSE
	dst.SAE += src.SAE
	if wb > 0 {
		w := wa + wb
		dy := src.YMean - dst.YMean
		dst.YMean += dy * wb / w
		dst.YM2 += src.YM2 + dy*dy*wa*wb/w
	}
	dst.Weight = wa + wb
	if dst.Counts == nil {
		dst.Counts = src.Counts
	} else {
		for i, v := range src.Counts {
			dst.Counts[i] += v
		}
	}
	dst.LogLoss += src.LogLoss
	if len(src.Scores) > 0 {
		merged := make([]scored, 0, len(dst.Scores)+len(src.Scores))
		i, j := 0, 0
		for i < len(dst.Scores) && j < len(src.Scores) {
			if lessScored(src.Scores[j], dst.Scores[i]) {
				merged = append(merged, src.Scores[j])
				j++
			} else {
				merged = append(merged, dst.Scores[i])
				i++
			}
		}
		merged = append(merged, dst.Scores[i:]...)
		dst.Scores = append(merged, src.Scores[j:]...)
	}
}

// Evaluate scores a model on a dataset in one engine aggregation: the
// model travels to the workers encoded (any registered algorithm), each
// partition predicts its rows, and the partials combine into regression
// metrics (RMSE, MAE, R²) or, for a ClassPredictor, classification
// metrics (confusion matrix, accuracy, precision, recall, F1; log-loss for
// a Classifier; for two classes the exact AUC of the probability of class
// 1, or of the margin of a model without probabilities such as SVMModel).
func Evaluate(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, m Model) (*Metrics, error) {
	enc, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	p, err := cluster.Aggregate(ctx, x, ds, evalTask, &evalArg{Model: enc})
	if err != nil {
		return nil, err
	}
	if p.Weight <= 0 {
		return nil, fmt.Errorf("ml: evaluate: dataset %q has no rows of positive weight", ds.Name())
	}
	nan := math.NaN()
	r := &Metrics{Rows: int(p.Rows), Weight: p.Weight, RMSE: nan, MAE: nan, R2: nan,
		Accuracy: nan, Precision: nan, Recall: nan, F1: nan, LogLoss: nan, AUC: nan}
	cp, ok := m.(ClassPredictor)
	if !ok {
		r.RMSE = math.Sqrt(p.SSE / p.Weight)
		r.MAE = p.SAE / p.Weight
		r.R2 = 1 - p.SSE/p.YM2
		return r, nil
	}
	k := cp.NumClasses()
	c := &Confusion{K: k, Counts: p.Counts}
	if c.Counts == nil {
		c.Counts = make([]float64, k*k)
	}
	r.Confusion = c
	r.Accuracy = c.Accuracy()
	if _, ok := m.(Classifier); ok {
		r.LogLoss = p.LogLoss / p.Weight
	}
	if k == 2 {
		r.Precision, r.Recall, r.F1 = c.Precision(1), c.Recall(1), c.F1(1)
		if auc, err := aucSorted(p.Scores); err == nil {
			r.AUC = auc
		}
	} else {
		r.Precision, r.Recall, r.F1 = c.MacroPrecision(), c.MacroRecall(), c.MacroF1()
	}
	return r, nil
}
