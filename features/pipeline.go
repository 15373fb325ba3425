package features

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// TransformSpec is one stage of a pipeline, as a job spec writes it. Every
// stage reads Inputs (fields, or outputs of earlier stages) and writes one
// output column named Output.
type TransformSpec struct {
	// Type is one of imputer, standard_scaler, minmax_scaler, one_hot,
	// ordinal, hashing, bucketizer, quantile_discretizer, polynomial, tfidf,
	// assembler.
	Type   string   `json:"type" yaml:"type"`
	Inputs []string `json:"inputs" yaml:"inputs"`
	// Output names the column; default "<type>_<first input>".
	Output string `json:"output,omitempty" yaml:"output,omitempty"`

	// imputer: strategy mean (default), median or constant (with value).
	Strategy string  `json:"strategy,omitempty" yaml:"strategy,omitempty"`
	Value    float64 `json:"value,omitempty" yaml:"value,omitempty"`
	// standard_scaler: with_mean (default false, as Spark, so sparse inputs
	// stay sparse) and with_std (default true).
	WithMean *bool `json:"with_mean,omitempty" yaml:"with_mean,omitempty"`
	WithStd  *bool `json:"with_std,omitempty" yaml:"with_std,omitempty"`
	// minmax_scaler: the target range, default [0, 1].
	Min *float64 `json:"min,omitempty" yaml:"min,omitempty"`
	Max *float64 `json:"max,omitempty" yaml:"max,omitempty"`
	// one_hot, ordinal: handle_unknown is "ignore" (all zeros for one-hot,
	// -1 for ordinal; the default) or "error"; max_categories keeps the most
	// frequent categories (0: all).
	HandleUnknown string `json:"handle_unknown,omitempty" yaml:"handle_unknown,omitempty"`
	MaxCategories int    `json:"max_categories,omitempty" yaml:"max_categories,omitempty"`
	// hashing, tfidf: the number of buckets (default 1024);
	// quantile_discretizer: the number of buckets (default 10).
	Buckets int `json:"buckets,omitempty" yaml:"buckets,omitempty"`
	// bucketizer: increasing split points; values below the first or above
	// the last go to the first or last bucket.
	Splits []float64 `json:"splits,omitempty" yaml:"splits,omitempty"`
	// polynomial: the degree (default 2).
	Degree int `json:"degree,omitempty" yaml:"degree,omitempty"`
}

// transform types and whether they are fitted.
var transformTypes = map[string]bool{
	"imputer": true, "standard_scaler": true, "minmax_scaler": true, "one_hot": true, "ordinal": true,
	"hashing": false, "bucketizer": false, "quantile_discretizer": true, "polynomial": false, "tfidf": true,
	"assembler": false,
}

// TransformTypes lists the transform types, sorted.
func TransformTypes() []string {
	var ts []string
	for t := range transformTypes {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// stage is a transform with its fitted parameters (exported for encoding)
// and its compiled column references.
type stage struct {
	Spec TransformSpec `json:"spec"`

	Mean  []float64   `json:"mean,omitempty"`  // scaler centres
	Scale []float64   `json:"scale,omitempty"` // scaler multipliers
	Lo    []float64   `json:"lo,omitempty"`    // min-max minima
	Hi    []float64   `json:"hi,omitempty"`    // min-max maxima
	Fill  []float64   `json:"fill,omitempty"`  // imputer values
	Vocab [][]string  `json:"vocab,omitempty"` // encoder categories per input
	Cuts  [][]float64 `json:"cuts,omitempty"`  // discretiser splits per input
	IDF   []float64   `json:"idf,omitempty"`   // tf-idf weights

	in    []column
	out   column
	index []map[string]int // Vocab as maps
	// inOff is the first slot of in when its columns are numeric and
	// follow one another in the frame (inputs then reads them as one
	// slice), -1 otherwise; inW is their width.
	inOff, inW int
}

// column is a named value of a row during transformation: numeric (a slot
// range in the frame's numbers) or a string.
type column struct {
	name   string
	str    bool // categorical or text
	text   bool // text (tokenised by tfidf and hashing)
	off, w int  // numeric slots [off, off+w); for strings, off indexes strs
	field  int  // schema field index, or -1 for a stage output
}

// Pipeline is a schema with fitted transforms: it turns a decoded Row into
// a feature vector. A fitted pipeline is immutable and safe for concurrent
// use; each goroutine transforms through its own Transformer.
type Pipeline struct {
	Version int      `json:"version"`
	Schema  Schema   `json:"schema"`
	Stages  []*stage `json:"stages"`
	// Classes are the class names of a categorical label, in index order.
	Classes []string `json:"classes,omitempty"`

	cols     []column
	byName   map[string]int
	nums     int // numeric slots in a frame
	strs     int // string slots in a frame
	final    []column
	finalOff int // the first slot of final when its columns follow one another, -1 otherwise
	slotRuns []slotRun
	width    int
	label    int
	weight   int
	classIdx map[string]int
}

// slotRun is a run of numeric schema fields of width 1 whose slots follow
// one another in the frame: TransformNumbers copies fields [field,
// field+n) to slots [off, off+n) in one step.
type slotRun struct{ field, off, n int }

// contiguous returns the first slot of cols when they are numeric and
// their slots follow one another, and -1 otherwise.
func contiguous(cols []column) int {
	if len(cols) == 0 {
		return -1
	}
	next := cols[0].off
	for _, c := range cols {
		if c.str || c.off != next {
			return -1
		}
		next += c.w
	}
	return cols[0].off
}

// pipelineVersion is the encoding version MarshalJSON writes.
const pipelineVersion = 1

// New compiles a schema and transform specs into an unfitted pipeline,
// reporting every problem at once with the path of the spec at fault
// (e.g. "transforms[2].inputs[0]").
func New(schema Schema, specs []TransformSpec) (*Pipeline, error) {
	if err := schema.Validate(); err != nil {
		return nil, err
	}
	p := &Pipeline{Version: pipelineVersion, Schema: schema}
	for _, s := range specs {
		p.Stages = append(p.Stages, &stage{Spec: s})
	}
	if err := p.compile(); err != nil {
		return nil, err
	}
	return p, nil
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// compile resolves column names, checks types and computes slot layouts.
func (p *Pipeline) compile() error {
	p.cols, p.byName, p.nums, p.strs = nil, map[string]int{}, 0, 0
	s := &p.Schema
	p.label, p.weight = s.Index(s.Label), s.Index(s.Weight)
	add := func(c column) {
		if c.str {
			c.off = p.strs
			p.strs++
		} else {
			c.off = p.nums
			p.nums += c.w
		}
		p.byName[c.name] = len(p.cols)
		p.cols = append(p.cols, c)
	}
	for i, f := range s.Fields {
		c := column{name: f.Name, field: i, w: 1}
		switch f.Type {
		case Categorical:
			c.str = true
		case Text:
			c.str, c.text = true, true
		case Vector:
			c.w = f.Dim
		}
		add(c)
	}
	var errs []error
	bad := func(i int, what, format string, args ...any) {
		errs = append(errs, fmt.Errorf("transforms[%d]%s: %s", i, what, fmt.Sprintf(format, args...)))
	}
	consumed := map[string]bool{}
	hasAssembler := false
	for i, st := range p.Stages {
		sp := &st.Spec
		fitted, known := transformTypes[sp.Type]
		_ = fitted
		if !known {
			bad(i, ".type", "unknown transform %q: want one of %s", sp.Type, strings.Join(TransformTypes(), ", "))
			continue
		}
		if len(sp.Inputs) == 0 {
			bad(i, ".inputs", "no inputs")
			continue
		}
		if sp.Type == "assembler" {
			if i != len(p.Stages)-1 {
				bad(i, ".type", "the assembler must be the last transform")
			}
			hasAssembler = true
		}
		st.in = st.in[:0]
		ok := true
		for j, name := range sp.Inputs {
			ci, found := p.byName[name]
			if !found {
				bad(i, fmt.Sprintf(".inputs[%d]", j), "no field or earlier output named %q", name)
				ok = false
				continue
			}
			if ci == p.label || ci == p.weight {
				bad(i, fmt.Sprintf(".inputs[%d]", j), "%q is the label or weight, not a feature", name)
				ok = false
				continue
			}
			c := p.cols[ci]
			consumed[name] = true
			if err := inputOK(sp.Type, c); err != nil {
				bad(i, fmt.Sprintf(".inputs[%d]", j), "%q: %v", name, err)
				ok = false
				continue
			}
			st.in = append(st.in, c)
		}
		if !ok {
			continue
		}
		st.inOff, st.inW = contiguous(st.in), 0
		for _, c := range st.in {
			st.inW += c.w
		}
		w, err := st.outWidth()
		if err != nil {
			bad(i, "", "%v", err)
			continue
		}
		if sp.Output == "" {
			sp.Output = sp.Type + "_" + sp.Inputs[0]
			if sp.Type == "assembler" {
				sp.Output = "features"
			}
		}
		if _, dup := p.byName[sp.Output]; dup {
			bad(i, ".output", "%q is already a field or an earlier output", sp.Output)
			continue
		}
		if w > 0 {
			st.out = column{name: sp.Output, w: w, field: -1}
			add(st.out)
			st.out = p.cols[len(p.cols)-1]
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// The feature vector: the assembler's inputs, or every numeric field and
	// stage output that nothing else consumed.
	p.final = nil
	if hasAssembler {
		p.final = p.Stages[len(p.Stages)-1].in
	} else {
		for _, c := range p.cols {
			if c.str || consumed[c.name] || (c.field >= 0 && (c.field == p.label || c.field == p.weight)) {
				continue
			}
			p.final = append(p.final, c)
		}
	}
	p.width = 0
	for _, c := range p.final {
		p.width += c.w
	}
	p.finalOff = contiguous(p.final)
	p.slotRuns = nil
	for _, c := range p.cols {
		if c.field < 0 || c.str || c.w != 1 {
			continue
		}
		if k := len(p.slotRuns) - 1; k >= 0 && p.slotRuns[k].field+p.slotRuns[k].n == c.field && p.slotRuns[k].off+p.slotRuns[k].n == c.off {
			p.slotRuns[k].n++
			continue
		}
		p.slotRuns = append(p.slotRuns, slotRun{field: c.field, off: c.off, n: 1})
	}
	if p.width == 0 {
		return errors.New("transforms: the pipeline produces no features (every field is the label, the weight, or a string no transform encodes)")
	}
	p.classIdx = nil
	if len(p.Classes) == 0 && len(s.Classes) > 0 {
		p.Classes = s.Classes
	}
	if len(p.Classes) > 0 {
		p.classIdx = make(map[string]int, len(p.Classes))
		for i, c := range p.Classes {
			p.classIdx[c] = i
		}
	}
	for _, st := range p.Stages {
		st.index = nil
		if st.Vocab != nil {
			st.index = make([]map[string]int, len(st.Vocab))
			for j, v := range st.Vocab {
				st.index[j] = make(map[string]int, len(v))
				for k, c := range v {
					st.index[j][c] = k
				}
			}
		}
	}
	return nil
}

// inputOK checks that a transform accepts a column.
func inputOK(typ string, c column) error {
	switch typ {
	case "one_hot", "ordinal":
		if c.text {
			return errors.New("text is not categorical: use tfidf or hashing")
		}
		if !c.str && c.w != 1 {
			return errors.New("a vector is not categorical")
		}
	case "hashing":
	case "tfidf":
		if !c.text {
			return errors.New("tfidf takes text fields")
		}
	case "assembler", "imputer", "standard_scaler", "minmax_scaler", "bucketizer", "quantile_discretizer", "polynomial":
		if c.str {
			return errors.New("a string column is not numeric: encode it first (one_hot, ordinal, hashing or tfidf)")
		}
	}
	return nil
}

// numWidth is the number of numeric slots of the inputs.
func (st *stage) numWidth() int {
	n := 0
	for _, c := range st.in {
		n += c.w
	}
	return n
}

// outWidth is the width of the stage's output column (0 for the assembler,
// which only names the final vector). For fitted one-hot encoders it is
// known only after fitting; before, it is 1 so compilation can proceed.
func (st *stage) outWidth() (int, error) {
	sp := &st.Spec
	switch sp.Type {
	case "assembler":
		return 0, nil
	case "imputer":
		switch sp.Strategy {
		case "", "mean", "median", "constant":
		default:
			return 0, fmt.Errorf(".strategy: %q: want mean, median or constant", sp.Strategy)
		}
		return st.numWidth(), nil
	case "standard_scaler", "minmax_scaler":
		if sp.Type == "minmax_scaler" && sp.Min != nil && sp.Max != nil && *sp.Min >= *sp.Max {
			return 0, fmt.Errorf(".min %v must be below .max %v", *sp.Min, *sp.Max)
		}
		return st.numWidth(), nil
	case "one_hot":
		if err := unknownOK(sp.HandleUnknown); err != nil {
			return 0, err
		}
		if sp.MaxCategories < 0 {
			return 0, fmt.Errorf(".max_categories must not be negative")
		}
		if st.Vocab == nil {
			return 1, nil
		}
		w := 0
		for _, v := range st.Vocab {
			w += len(v)
		}
		return max(w, 1), nil
	case "ordinal":
		if err := unknownOK(sp.HandleUnknown); err != nil {
			return 0, err
		}
		return len(st.in), nil
	case "hashing", "tfidf":
		if sp.Buckets < 0 || sp.Buckets > 1<<22 {
			return 0, fmt.Errorf(".buckets %d: want 1 to %d", sp.Buckets, 1<<22)
		}
		if sp.Type == "tfidf" && len(st.in) != 1 {
			return 0, fmt.Errorf(".inputs: tfidf takes one text field")
		}
		return st.buckets(), nil
	case "bucketizer":
		if len(sp.Splits) == 0 {
			return 0, fmt.Errorf(".splits: a bucketizer needs split points")
		}
		if !slices.IsSorted(sp.Splits) || len(slices.Compact(slices.Clone(sp.Splits))) != len(sp.Splits) {
			return 0, fmt.Errorf(".splits must be strictly increasing")
		}
		return st.numWidth(), nil
	case "quantile_discretizer":
		if sp.Buckets < 0 || sp.Buckets == 1 {
			return 0, fmt.Errorf(".buckets %d: want at least 2", sp.Buckets)
		}
		return st.numWidth(), nil
	case "polynomial":
		d := sp.Degree
		if d == 0 {
			d = 2
		}
		if d < 1 || d > 5 {
			return 0, fmt.Errorf(".degree %d: want 1 to 5", sp.Degree)
		}
		n := polyTerms(st.numWidth(), d)
		if n > 1<<20 {
			return 0, fmt.Errorf("polynomial of degree %d over %d inputs makes %d features: too many", d, st.numWidth(), n)
		}
		return n, nil
	}
	return 0, fmt.Errorf("unknown transform %q", sp.Type)
}

func unknownOK(h string) error {
	switch h {
	case "", "ignore", "error":
		return nil
	}
	return fmt.Errorf(".handle_unknown %q: want ignore or error", h)
}

func (st *stage) buckets() int {
	if st.Spec.Buckets > 0 {
		return st.Spec.Buckets
	}
	if st.Spec.Type == "quantile_discretizer" {
		return 10
	}
	return 1024
}

// polyTerms counts the monomials of degree 1..d in n variables.
func polyTerms(n, d int) int {
	// C(n+d, d) - 1
	r := 1
	for k := 1; k <= d; k++ {
		r = r * (n + k) / k
	}
	return r - 1
}

// Width is the length of the feature vectors the pipeline produces.
func (p *Pipeline) Width() int { return p.width }

// FeatureNames names every element of the feature vector.
func (p *Pipeline) FeatureNames() []string {
	var names []string
	for _, c := range p.final {
		st := p.producer(c.name)
		for k := 0; k < c.w; k++ {
			switch {
			case st != nil && st.Spec.Type == "one_hot":
				names = append(names, st.oneHotName(k))
			case c.w == 1:
				names = append(names, c.name)
			default:
				names = append(names, fmt.Sprintf("%s[%d]", c.name, k))
			}
		}
	}
	return names
}

func (p *Pipeline) producer(col string) *stage {
	for _, st := range p.Stages {
		if st.Spec.Output == col && st.Spec.Type != "assembler" {
			return st
		}
	}
	return nil
}

func (st *stage) oneHotName(k int) string {
	for j, v := range st.Vocab {
		if k < len(v) {
			return st.in[j].name + "=" + v[k]
		}
		k -= len(v)
	}
	return st.Spec.Output
}

// Fitted reports whether every transform that learns parameters has them.
func (p *Pipeline) Fitted() bool {
	for _, st := range p.Stages {
		if transformTypes[st.Spec.Type] && !st.fitted() {
			return false
		}
	}
	return !(p.label >= 0 && p.Schema.Fields[p.label].Type == Categorical && len(p.Classes) == 0)
}

func (st *stage) fitted() bool {
	switch st.Spec.Type {
	case "imputer":
		return st.Fill != nil
	case "standard_scaler":
		return st.Scale != nil
	case "minmax_scaler":
		return st.Lo != nil
	case "one_hot", "ordinal":
		return st.Vocab != nil
	case "quantile_discretizer":
		return st.Cuts != nil
	case "tfidf":
		return st.IDF != nil
	}
	return true
}

// MarshalJSON encodes the fitted pipeline, versioned.
func (p *Pipeline) MarshalJSON() ([]byte, error) {
	type enc Pipeline
	return json.Marshal((*enc)(p))
}

// UnmarshalJSON decodes a pipeline MarshalJSON wrote, and recompiles it.
func (p *Pipeline) UnmarshalJSON(data []byte) error {
	type enc Pipeline
	var q enc
	if err := json.Unmarshal(data, &q); err != nil {
		return fmt.Errorf("features: decode pipeline: %w", err)
	}
	if q.Version != pipelineVersion {
		return fmt.Errorf("features: pipeline encoding version %d is not supported (this Flint reads version %d)", q.Version, pipelineVersion)
	}
	*p = Pipeline(q)
	if err := p.Schema.Validate(); err != nil {
		return fmt.Errorf("features: decoded pipeline: %w", err)
	}
	if err := p.compile(); err != nil {
		return fmt.Errorf("features: decoded pipeline: %w", err)
	}
	return nil
}

// Transformer applies a pipeline to rows. It holds scratch space and is for
// one goroutine at a time.
type Transformer struct {
	p    *Pipeline
	num  []float64
	strs []string
	toks []string
	in   []float64 // a stage's inputs gathered, when they do not follow one another (see gather)
}

// NewTransformer returns a transformer for the pipeline.
func (p *Pipeline) NewTransformer() *Transformer {
	return &Transformer{p: p, num: make([]float64, p.nums), strs: make([]string, p.strs)}
}

// Label returns the label of a decoded row: the number, or the class index
// of a categorical label. An unknown class is a *FieldError.
func (p *Pipeline) Label(row Row) (float64, error) {
	if p.label < 0 {
		return 0, nil
	}
	v := row[p.label]
	if p.Schema.Fields[p.label].Type != Categorical {
		return v.Num, nil
	}
	k, ok := p.classIdx[v.Str]
	if !ok {
		return 0, fieldErr(p.Schema.Label, "class %q is not one of the %d classes seen in training", v.Str, len(p.Classes))
	}
	return float64(k), nil
}

// Weight returns the sample weight of a decoded row (1 without a weight field).
func (p *Pipeline) Weight(row Row) (float64, error) {
	if p.weight < 0 {
		return 1, nil
	}
	w := row[p.weight].Num
	if row[p.weight].Missing {
		return 1, nil
	}
	if w < 0 {
		return 0, fieldErr(p.Schema.Weight, "weight %v is negative", w)
	}
	return w, nil
}

// Transform writes the feature vector of a decoded row into dst, which must
// have length Width. It never allocates for numeric pipelines.
func (t *Transformer) Transform(dst []float64, row Row) error {
	p := t.p
	if len(dst) != p.width {
		return fmt.Errorf("features: Transform: dst has length %d, want %d", len(dst), p.width)
	}
	for _, c := range p.cols {
		if c.field < 0 {
			continue
		}
		v := row[c.field]
		switch {
		case c.str:
			t.strs[c.off] = v.Str
		case c.w == 1:
			t.num[c.off] = v.Num
		default:
			if v.Missing {
				for k := 0; k < c.w; k++ {
					t.num[c.off+k] = math.NaN()
				}
			} else {
				copy(t.num[c.off:c.off+c.w], v.Vec)
			}
		}
	}
	return t.transformFrame(dst)
}

// transformFrame applies the stages to the frame, whose field slots are
// loaded, and writes the feature vector into dst (length Width).
func (t *Transformer) transformFrame(dst []float64) error {
	p := t.p
	for _, st := range p.Stages {
		if err := t.apply(st); err != nil {
			return err
		}
	}
	if p.finalOff >= 0 {
		copy(dst, t.num[p.finalOff:p.finalOff+p.width])
	} else {
		k := 0
		for _, c := range p.final {
			copy(dst[k:k+c.w], t.num[c.off:c.off+c.w])
			k += c.w
		}
	}
	for i, v := range dst {
		if math.IsNaN(v) {
			return &FieldError{Field: p.featureColumn(i), Err: errors.New("missing value reaches the feature vector: add an imputer for it")}
		}
	}
	return nil
}

func (p *Pipeline) featureColumn(i int) string {
	for _, c := range p.final {
		if i < c.w {
			return c.name
		}
		i -= c.w
	}
	return ""
}

// gather returns a stage's numeric inputs as one slice: a view of the
// frame when their slots follow one another (stage.inOff), else a copy.
func (t *Transformer) gather(st *stage) []float64 {
	if st.inOff >= 0 {
		return t.num[st.inOff : st.inOff+st.inW]
	}
	t.in = t.in[:0]
	for _, c := range st.in {
		t.in = append(t.in, t.num[c.off:c.off+c.w]...)
	}
	return t.in
}

// inputs calls fn with each of a stage's numeric inputs.
func (t *Transformer) inputs(st *stage, fn func(k int, v float64)) {
	for k, v := range t.gather(st) {
		fn(k, v)
	}
}

func (t *Transformer) apply(st *stage) error {
	sp := &st.Spec
	if sp.Type == "assembler" {
		return nil
	}
	out := t.num[st.out.off : st.out.off+st.out.w]
	switch sp.Type {
	// The scalers and the imputer run once per value of every row: plain
	// loops over slices of one length, with no bounds checks inside.
	case "imputer":
		in := t.gather(st)
		out, fill := out[:len(in)], st.Fill[:len(in)]
		for k, v := range in {
			if math.IsNaN(v) {
				v = fill[k]
			}
			out[k] = v
		}
	case "standard_scaler":
		in := t.gather(st)
		out, mean, scale := out[:len(in)], st.Mean[:len(in)], st.Scale[:len(in)]
		for k, v := range in {
			out[k] = (v - mean[k]) * scale[k]
		}
	case "minmax_scaler":
		lo, hi := 0.0, 1.0
		if sp.Min != nil {
			lo = *sp.Min
		}
		if sp.Max != nil {
			hi = *sp.Max
		}
		in := t.gather(st)
		out, los, his := out[:len(in)], st.Lo[:len(in)], st.Hi[:len(in)]
		for k, v := range in {
			r := his[k] - los[k]
			if r == 0 {
				out[k] = (lo + hi) / 2
				continue
			}
			out[k] = lo + (v-los[k])/r*(hi-lo)
		}
	case "one_hot", "ordinal":
		clear(out)
		base := 0
		for j, c := range st.in {
			cat := t.category(c)
			idx, ok := st.index[j][cat]
			if !ok && sp.HandleUnknown == "error" {
				return fieldErr(c.name, "category %q was not seen in training", cat)
			}
			if sp.Type == "ordinal" {
				if ok {
					out[j] = float64(idx)
				} else {
					out[j] = -1
				}
				continue
			}
			if ok {
				out[base+idx] = 1
			}
			base += len(st.Vocab[j])
		}
	case "hashing":
		clear(out)
		n := uint32(len(out))
		for _, c := range st.in {
			switch {
			case c.text:
				t.toks = tokenize(t.toks[:0], t.strs[c.off])
				for _, tok := range t.toks {
					out[hash2(c.name, tok)%n]++
				}
			case c.str:
				out[hash2(c.name, t.strs[c.off])%n]++
			default:
				for j := 0; j < c.w; j++ {
					v := t.num[c.off+j]
					if math.IsNaN(v) {
						return fieldErr(c.name, "missing value: add an imputer before hashing")
					}
					out[hash2(c.name, fmt.Sprint(j))%n] += v
				}
			}
		}
	case "tfidf":
		clear(out)
		n := uint32(len(out))
		c := st.in[0]
		t.toks = tokenize(t.toks[:0], t.strs[c.off])
		for _, tok := range t.toks {
			out[hash1(tok)%n]++
		}
		for k := range out {
			out[k] *= st.IDF[k]
		}
	case "bucketizer":
		t.inputs(st, func(k int, v float64) { out[k] = bucketOf(sp.Splits, v) })
	case "quantile_discretizer":
		t.inputs(st, func(k int, v float64) { out[k] = bucketOf(st.Cuts[k], v) })
	case "polynomial":
		d := sp.Degree
		if d == 0 {
			d = 2
		}
		x := make([]float64, 0, st.numWidth()) // small; polynomial inputs are few
		t.inputs(st, func(_ int, v float64) { x = append(x, v) })
		k := 0
		var rec func(start, deg int, prod float64)
		rec = func(start, deg int, prod float64) {
			for i := start; i < len(x); i++ {
				v := prod * x[i]
				out[k] = v
				k++
				if deg < d {
					rec(i, deg+1, v)
				}
			}
		}
		rec(0, 1, 1)
	}
	return nil
}

// category returns the category text of an encoder input: the string, or
// the number's decimal text.
func (t *Transformer) category(c column) string {
	if c.str {
		return t.strs[c.off]
	}
	return formatCategory(t.num[c.off])
}

func formatCategory(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return fmt.Sprint(v)
}

// bucketOf returns the index of the bucket v falls in, given increasing
// split points: bucket i holds [splits[i-1], splits[i]).
func bucketOf(splits []float64, v float64) float64 {
	return float64(sort.SearchFloat64s(splits, math.Nextafter(v, math.Inf(1))))
}

// tokenize lower-cases text and splits it on anything but letters and digits.
func tokenize(dst []string, s string) []string {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
		dst = append(dst, strings.ToLower(f))
	}
	return dst
}

// FNV-1a, 32 bits: the bucket of a hashed feature. Part of the encoding of
// fitted pipelines: changing it changes every hashed feature.
const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

func fnvAdd(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= fnvPrime
	}
	return h
}

func hash1(s string) uint32 { return fnvAdd(fnvOffset, s) }

func hash2(a, b string) uint32 {
	h := fnvAdd(fnvOffset, a)
	h ^= 0
	h *= fnvPrime
	return fnvAdd(h, b)
}
