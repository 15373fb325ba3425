package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/flintml/flint/cluster"
)

// FitOptions controls Fit.
type FitOptions struct {
	// SkipBad skips records that do not fit the schema (counting them and
	// keeping a few examples in the report) instead of failing.
	SkipBad bool
	// SketchSize is the sample size of the quantile sketch behind medians and
	// quantile discretisers; 0 means 4096 (rank error about 1.5 %).
	SketchSize int
}

// FitReport says what Fit read.
type FitReport struct {
	Passes   int      // passes over the sources
	Rows     int64    // records read in the first pass
	Bad      int64    // records skipped (SkipBad) in the first pass
	Examples []string // a few skipped records' errors, with where they were
}

// Fit learns the parameters of every transform (and the classes of a
// categorical label) from the values of sources, as scans on the engine:
// one pass for each level of transforms that read the outputs of fitted
// transforms. The result depends only on the sources, never on the number
// of workers. The pipeline must not be in use while it is being fitted.
func (p *Pipeline) Fit(ctx context.Context, x cluster.Scanner, l cluster.LogReader, sources []cluster.Source, opt FitOptions) (FitReport, error) {
	levels := p.levels()
	maxLevel := -1
	for i, st := range p.Stages {
		if transformTypes[st.Spec.Type] {
			maxLevel = max(maxLevel, levels[i])
		}
	}
	needClasses := p.label >= 0 && p.Schema.Fields[p.label].Type == Categorical && len(p.Schema.Classes) == 0
	if needClasses {
		maxLevel = max(maxLevel, 0)
	}
	var rep FitReport
	k := opt.SketchSize
	if k <= 0 {
		k = 4096
	}
	for level := 0; level <= maxLevel; level++ {
		work := needClasses && level == 0
		for i, st := range p.Stages {
			work = work || (levels[i] == level && transformTypes[st.Spec.Type])
		}
		if !work {
			continue
		}
		enc, err := json.Marshal(p)
		if err != nil {
			return rep, err
		}
		arg := &fitArg{Pipeline: enc, Level: level, Skip: opt.SkipBad, Sketch: k, Classes: needClasses && level == 0}
		st, err := cluster.Scan(ctx, x, l, sources, fitScan, arg)
		if err != nil {
			return rep, fmt.Errorf("features: fit pass %d: %w", level+1, err)
		}
		rep.Passes++
		if rep.Passes == 1 {
			rep.Rows, rep.Bad, rep.Examples = int64(st.Rows), int64(st.Bad), st.Examples
			if st.Rows-st.Bad == 0 {
				return rep, errors.New("features: fit: no valid records to fit on")
			}
		}
		if arg.Classes {
			p.Classes = sortedKeys(st.Labels)
		}
		for i, s := range p.Stages {
			if levels[i] == level && transformTypes[s.Spec.Type] {
				if err := s.finish(&st.Stages[i]); err != nil {
					return rep, fmt.Errorf("features: fit transforms[%d] (%s): %w", i, s.Spec.Type, err)
				}
			}
		}
		if err := p.compile(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// levels returns each stage's level: 0 when it reads fields only, else one
// more than the highest level among the stages producing its inputs.
func (p *Pipeline) levels() []int {
	lv := make([]int, len(p.Stages))
	out := map[string]int{}
	for i, st := range p.Stages {
		for _, in := range st.Spec.Inputs {
			if j, ok := out[in]; ok {
				lv[i] = max(lv[i], lv[j]+1)
			}
		}
		out[st.Spec.Output] = i
	}
	return lv
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fitArg is the broadcast of a fit pass.
type fitArg struct {
	Pipeline []byte // the pipeline as fitted so far
	Level    int
	Skip     bool
	Sketch   int
	Classes  bool

	once sync.Once
	p    *Pipeline
	lv   []int
	err  error
}

func (a *fitArg) pipeline() (*Pipeline, []int, error) {
	a.once.Do(func() {
		a.p = new(Pipeline)
		if a.err = json.Unmarshal(a.Pipeline, a.p); a.err == nil {
			a.lv = a.p.levels()
		}
	})
	return a.p, a.lv, a.err
}

// fitStats is the partial result of a fit pass over one source.
type fitStats struct {
	Rows, Bad float64
	Examples  []string
	Labels    map[string]float64
	Stages    []stageStats

	t   *Transformer
	row Row
}

type sketchItem struct {
	H uint64
	V float64
}

type stageStats struct {
	N, Mean, M2, Lo, Hi []float64
	Cats                []map[string]float64
	Sketch              [][]sketchItem
	Docs                float64
	DF                  []float64
	K                   int // sketch size
}

var fitScan = cluster.RegisterScan(&cluster.ScanTask[fitArg, fitStats]{
	Name: "features.fit",
	New: func(a *fitArg) *fitStats {
		s := &fitStats{Labels: map[string]float64{}}
		if p, _, err := a.pipeline(); err == nil {
			s.Stages = make([]stageStats, len(p.Stages))
		}
		return s
	},
	Value:   fitValue,
	Combine: combineFit,
})

func fitValue(a *fitArg, s *fitStats, value []byte, where func() string) error {
	p, lv, err := a.pipeline()
	if err != nil {
		return err
	}
	if s.t == nil {
		s.t, s.row = p.NewTransformer(), p.Schema.NewRow()
	}
	s.Rows++
	bad := func(err error) error {
		if !a.Skip {
			return fmt.Errorf("%s: %w", where(), err)
		}
		s.Bad++
		if len(s.Examples) < 5 {
			s.Examples = append(s.Examples, fmt.Sprintf("%s: %v", where(), err))
		}
		return nil
	}
	if err := p.Schema.Decode(s.row, value); err != nil {
		return bad(err)
	}
	if p.label >= 0 && s.row[p.label].Missing {
		return bad(fieldErr(p.Schema.Label, "missing label"))
	}
	if a.Classes {
		s.Labels[s.row[p.label].Str]++
	} else if _, err := p.Label(s.row); err != nil && a.Level == 0 {
		return bad(err)
	}
	t := s.t
	// Load the row's fields into the frame, as Transform does.
	for _, c := range p.cols {
		if c.field < 0 {
			continue
		}
		v := s.row[c.field]
		switch {
		case c.str:
			t.strs[c.off] = v.Str
		case c.w == 1:
			t.num[c.off] = v.Num
		case v.Missing:
			for k := 0; k < c.w; k++ {
				t.num[c.off+k] = math.NaN()
			}
		default:
			copy(t.num[c.off:c.off+c.w], v.Vec)
		}
	}
	for i, st := range p.Stages {
		switch {
		case lv[i] < a.Level:
			if err := t.apply(st); err != nil {
				return bad(err)
			}
		case lv[i] == a.Level && transformTypes[st.Spec.Type]:
			if err := s.Stages[i].add(t, st, a.Sketch, uint64(s.Rows)); err != nil {
				return bad(err)
			}
		}
	}
	return nil
}

// add folds one row's inputs of stage st into the statistics.
func (ss *stageStats) add(t *Transformer, st *stage, k int, row uint64) error {
	sp := &st.Spec
	switch sp.Type {
	case "one_hot", "ordinal":
		if ss.Cats == nil {
			ss.Cats = make([]map[string]float64, len(st.in))
			for j := range ss.Cats {
				ss.Cats[j] = map[string]float64{}
			}
		}
		for j, c := range st.in {
			if cat := t.category(c); cat != "" {
				ss.Cats[j][cat]++
			}
		}
		return nil
	case "tfidf":
		n := st.buckets()
		if ss.DF == nil {
			ss.DF = make([]float64, n)
		}
		t.toks = tokenize(t.toks[:0], t.strs[st.in[0].off])
		seen := map[uint32]bool{}
		for _, tok := range t.toks {
			h := hash1(tok) % uint32(n)
			if !seen[h] {
				seen[h] = true
				ss.DF[h]++
			}
		}
		ss.Docs++
		return nil
	}
	w := st.numWidth()
	if ss.N == nil {
		ss.N, ss.Mean, ss.M2 = make([]float64, w), make([]float64, w), make([]float64, w)
		ss.Lo, ss.Hi = make([]float64, w), make([]float64, w)
		for j := range ss.Lo {
			ss.Lo[j], ss.Hi[j] = math.Inf(1), math.Inf(-1)
		}
		ss.Sketch = make([][]sketchItem, w)
		ss.K = k
	}
	sketch := sp.Type == "quantile_discretizer" || (sp.Type == "imputer" && sp.Strategy == "median")
	var err error
	t.inputs(st, func(j int, v float64) {
		if math.IsNaN(v) {
			if sp.Type != "imputer" && err == nil {
				err = fieldErr(st.in[0].name, "missing value: add an imputer before %s", sp.Type)
			}
			return
		}
		ss.N[j]++
		d := v - ss.Mean[j]
		ss.Mean[j] += d / ss.N[j]
		ss.M2[j] += d * (v - ss.Mean[j])
		ss.Lo[j] = math.Min(ss.Lo[j], v)
		ss.Hi[j] = math.Max(ss.Hi[j], v)
		if sketch {
			ss.Sketch[j] = append(ss.Sketch[j], sketchItem{H: mix(row, uint64(j), math.Float64bits(v)), V: v})
			if len(ss.Sketch[j]) >= 2*k {
				ss.Sketch[j] = trimSketch(ss.Sketch[j], k)
			}
		}
	})
	return err
}

// mix hashes a row's value into a uniform 64-bit number (SplitMix64): the
// key of a bottom-k sample, which merges exactly whatever the order.
func mix(a, b, c uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func trimSketch(s []sketchItem, k int) []sketchItem {
	slices.SortFunc(s, func(a, b sketchItem) int {
		if a.H != b.H {
			if a.H < b.H {
				return -1
			}
			return 1
		}
		switch {
		case a.V < b.V:
			return -1
		case a.V > b.V:
			return 1
		}
		return 0
	})
	if len(s) > k {
		s = s[:k]
	}
	return s
}

func combineFit(dst, src *fitStats) {
	dst.Rows += src.Rows
	dst.Bad += src.Bad
	for _, e := range src.Examples {
		if len(dst.Examples) < 5 {
			dst.Examples = append(dst.Examples, e)
		}
	}
	for k, v := range src.Labels {
		dst.Labels[k] += v
	}
	for i := range dst.Stages {
		dst.Stages[i].merge(&src.Stages[i])
	}
}

func (ss *stageStats) merge(o *stageStats) {
	if o.N != nil {
		if ss.N == nil {
			*ss = stageStats{N: o.N, Mean: o.Mean, M2: o.M2, Lo: o.Lo, Hi: o.Hi, Sketch: o.Sketch, K: o.K, Cats: ss.Cats, DF: ss.DF, Docs: ss.Docs}
		} else {
			for j := range ss.N {
				n := ss.N[j] + o.N[j]
				if n > 0 {
					d := o.Mean[j] - ss.Mean[j]
					ss.M2[j] += o.M2[j] + d*d*ss.N[j]*o.N[j]/n
					ss.Mean[j] += d * o.N[j] / n
				}
				ss.N[j] = n
				ss.Lo[j] = math.Min(ss.Lo[j], o.Lo[j])
				ss.Hi[j] = math.Max(ss.Hi[j], o.Hi[j])
				if len(o.Sketch[j]) > 0 {
					ss.Sketch[j] = trimSketch(append(ss.Sketch[j], o.Sketch[j]...), ss.K)
				}
			}
		}
	}
	if o.Cats != nil {
		if ss.Cats == nil {
			ss.Cats = o.Cats
		} else {
			for j := range ss.Cats {
				for k, v := range o.Cats[j] {
					ss.Cats[j][k] += v
				}
			}
		}
	}
	if o.DF != nil {
		if ss.DF == nil {
			ss.DF = o.DF
		} else {
			for k := range ss.DF {
				ss.DF[k] += o.DF[k]
			}
		}
	}
	ss.Docs += o.Docs
}

// finish turns a stage's statistics into its fitted parameters.
func (st *stage) finish(ss *stageStats) error {
	sp := &st.Spec
	switch sp.Type {
	case "one_hot", "ordinal":
		st.Vocab = make([][]string, len(st.in))
		for j := range st.in {
			var counts map[string]float64
			if ss.Cats != nil {
				counts = ss.Cats[j]
			}
			cats := make([]string, 0, len(counts))
			for c := range counts {
				cats = append(cats, c)
			}
			// Most frequent first, as Spark's StringIndexer; ties by name.
			sort.Slice(cats, func(a, b int) bool {
				if counts[cats[a]] != counts[cats[b]] {
					return counts[cats[a]] > counts[cats[b]]
				}
				return cats[a] < cats[b]
			})
			if sp.MaxCategories > 0 && len(cats) > sp.MaxCategories {
				cats = cats[:sp.MaxCategories]
			}
			if len(cats) == 0 {
				return fmt.Errorf("input %q has no categories in the training data", st.in[j].name)
			}
			st.Vocab[j] = cats
		}
		return nil
	case "tfidf":
		n := st.buckets()
		st.IDF = make([]float64, n)
		for k := range st.IDF {
			df := 0.0
			if ss.DF != nil {
				df = ss.DF[k]
			}
			st.IDF[k] = math.Log((ss.Docs + 1) / (df + 1))
		}
		return nil
	}
	w := st.numWidth()
	if ss.N == nil {
		return errors.New("no values to fit on")
	}
	for j := 0; j < w; j++ {
		if ss.N[j] == 0 {
			return fmt.Errorf("input element %d has no values in the training data", j)
		}
	}
	switch sp.Type {
	case "imputer":
		st.Fill = make([]float64, w)
		for j := range st.Fill {
			switch sp.Strategy {
			case "constant":
				st.Fill[j] = sp.Value
			case "median":
				st.Fill[j] = quantile(trimSketch(ss.Sketch[j], ss.K), 0.5)
			default:
				st.Fill[j] = ss.Mean[j]
			}
		}
	case "standard_scaler":
		st.Mean, st.Scale = make([]float64, w), make([]float64, w)
		for j := 0; j < w; j++ {
			if boolOr(sp.WithMean, false) {
				st.Mean[j] = ss.Mean[j]
			}
			st.Scale[j] = 1
			if boolOr(sp.WithStd, true) {
				std := 0.0
				if ss.N[j] > 1 {
					std = math.Sqrt(ss.M2[j] / (ss.N[j] - 1))
				}
				st.Scale[j] = 0 // a constant input scales to 0, as Spark
				if std > 0 {
					st.Scale[j] = 1 / std
				}
			}
		}
	case "minmax_scaler":
		st.Lo, st.Hi = slices.Clone(ss.Lo), slices.Clone(ss.Hi)
	case "quantile_discretizer":
		st.Cuts = make([][]float64, w)
		b := st.buckets()
		for j := 0; j < w; j++ {
			sample := trimSketch(ss.Sketch[j], ss.K)
			var cuts []float64
			for q := 1; q < b; q++ {
				c := quantile(sample, float64(q)/float64(b))
				if len(cuts) == 0 || c > cuts[len(cuts)-1] {
					cuts = append(cuts, c)
				}
			}
			st.Cuts[j] = cuts
		}
	}
	return nil
}

// quantile returns the q-quantile of a sample's values.
func quantile(sample []sketchItem, q float64) float64 {
	vs := make([]float64, len(sample))
	for i, s := range sample {
		vs[i] = s.V
	}
	sort.Float64s(vs)
	if len(vs) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(vs)))) - 1
	return vs[max(0, min(i, len(vs)-1))]
}
