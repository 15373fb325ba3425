package stream

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Limits on what one key's state may hold, so that a definition cannot ask
// for a state no store should keep.
const (
	maxBuckets      = 10000   // buckets of one feature's window
	maxRegisterSize = 1 << 20 // bytes of HyperLogLog registers of one feature
	defaultHLLP     = 10      // 1024 registers: relative error about 3.3%
)

// Parse decodes and validates a feature definition. It reports every
// problem it finds at once, as DefErrors, each naming file:line:column and
// the field's path.
func Parse(file string, data []byte) (*Definition, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, DefErrors{syntaxError(file, err)}
	}
	p := &parser{file: file}
	def := p.definition(&root)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b DefError) int {
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Col - b.Pos.Col
		})
		return nil, p.errs
	}
	return def, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// syntaxError turns the YAML parser's error into a DefError at the line
// the parser names (the parser knows no column).
func syntaxError(file string, err error) DefError {
	msg := err.Error()
	e := DefError{File: file, Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		e.Pos = Pos{Line: line, Col: 1}
		e.Msg = "not valid YAML: " + msg[len(m[0]):]
	}
	return e
}

// parser decodes yaml.Nodes strictly, collecting every problem.
type parser struct {
	file string
	errs DefErrors
}

func (p *parser) fail(n *yaml.Node, path, format string, args ...any) {
	e := DefError{File: p.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Pos = Pos{n.Line, n.Column}
	}
	p.errs = append(p.errs, e)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields is a decoded mapping: its value nodes by key, and the mapping.
type fields struct {
	n    *yaml.Node
	path string
	vals map[string]*yaml.Node
}

// mapping checks that n is a mapping of known keys, reporting unknown and
// duplicate keys, and returns its values.
func (p *parser) mapping(n *yaml.Node, path string, known ...string) (fields, bool) {
	n = deref(n)
	f := fields{n: n, path: path, vals: map[string]*yaml.Node{}}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping, got %s", kindName(n))
		return f, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(known, k.Value):
			p.fail(k, join(path, k.Value), "unknown field; want one of %s", strings.Join(known, ", "))
		case f.vals[k.Value] != nil:
			p.fail(k, join(path, k.Value), "duplicate field")
		default:
			f.vals[k.Value] = deref(v)
		}
	}
	return f, true
}

// required returns the value of key, reporting it missing.
func (p *parser) required(f fields, key string) *yaml.Node {
	v := f.vals[key]
	if v == nil {
		p.fail(f.n, f.path, "missing field %q", key)
	}
	return v
}

func (p *parser) list(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, path, "want a list, got %s", kindName(n))
		return nil
	}
	return n.Content
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || n.Value == "" {
		p.fail(n, path, "want a non-empty string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func isNumber(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float")
}

func (p *parser) number(n *yaml.Node, path string) (float64, bool) {
	var v float64
	if !isNumber(n) || n.Decode(&v) != nil {
		p.fail(n, path, "want a number, got %s", kindName(n))
		return 0, false
	}
	return v, true
}

// duration decodes a Go duration ("90s", "15m", "1h30m") or whole days
// ("7d") as milliseconds; it must be positive unless zeroOK.
func (p *parser) duration(n *yaml.Node, path string, zeroOK bool) (int64, bool) {
	ms, err := parseDuration(n)
	switch {
	case err != nil:
	case ms < 0 || ms == 0 && !zeroOK:
		err = fmt.Errorf("must be more than 0")
	case ms > MaxTime:
		err = fmt.Errorf("must be at most %dd, the span of event times", MaxTime/86_400_000)
	}
	if err != nil {
		p.fail(n, path, "bad duration %s: %v", kindName(n), err)
		return 0, false
	}
	return ms, true
}

func parseDuration(n *yaml.Node) (int64, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return 0, fmt.Errorf("want a Go duration such as 90s, 15m or 1h, or whole days such as 7d")
	}
	s := n.Value
	if days, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.ParseInt(days, 10, 64)
		if err != nil || d > math.MaxInt64/86_400_000 || d < 0 {
			return 0, fmt.Errorf("want whole days such as 7d")
		}
		return d * 86_400_000, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a Go duration such as 90s, 15m or 1h, or whole days such as 7d")
	}
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("want a whole number of milliseconds")
	}
	return d.Milliseconds(), nil
}

// fmtMS formats milliseconds as a duration for messages.
func fmtMS(ms int64) string {
	for _, u := range []struct {
		ms   int64
		name string
	}{{86_400_000, "d"}, {3_600_000, "h"}, {60_000, "m"}, {1000, "s"}} {
		if ms%u.ms == 0 {
			return strconv.FormatInt(ms/u.ms, 10) + u.name
		}
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

func (p *parser) definition(root *yaml.Node) *Definition {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == 0 || root.Kind == yaml.DocumentNode {
		p.fail(nil, "", "the definition is empty")
		return nil
	}
	top, ok := p.mapping(root, "", "name", "source", "tables", "lateness", "derived", "features")
	if !ok {
		return nil
	}
	def := &Definition{slots: map[string]slot{}}
	if n := p.required(top, "name"); n != nil {
		def.Name, _ = p.str(n, "name")
	}
	if n := p.required(top, "source"); n != nil {
		p.source(def, n)
	}
	if n := top.vals["tables"]; n != nil {
		for i, item := range p.list(n, "tables") {
			p.table(def, item, fmt.Sprintf("tables[%d]", i))
		}
	}
	if n := top.vals["lateness"]; n != nil {
		def.Lateness, _ = p.duration(n, "lateness", true)
	}
	if n := top.vals["derived"]; n != nil {
		for i, item := range p.list(n, "derived") {
			p.derived(def, item, fmt.Sprintf("derived[%d]", i))
		}
	}
	if n := p.required(top, "features"); n != nil {
		items := p.list(n, "features")
		if n.Kind == yaml.SequenceNode && len(items) == 0 {
			p.fail(n, "features", "want at least one feature")
		}
		names := map[string]bool{}
		for i, item := range items {
			path := fmt.Sprintf("features[%d]", i)
			f, ok := p.feature(def, item, path)
			if f.Name != "" && names[f.Name] {
				p.fail(item, path+".name", "feature %q is defined twice", f.Name)
			}
			names[f.Name] = true
			if ok {
				def.Features = append(def.Features, f)
			}
		}
	}
	return def
}

func (p *parser) source(def *Definition, n *yaml.Node) {
	src, ok := p.mapping(n, "source", "topic", "key", "time", "fields", "repartition")
	if !ok {
		return
	}
	if v := p.required(src, "topic"); v != nil {
		def.Source.Topic, _ = p.str(v, "source.topic")
	}
	if v := p.required(src, "fields"); v != nil {
		p.schema(def, v)
	}
	if v := p.required(src, "key"); v != nil {
		if key, ok := p.str(v, "source.key"); ok {
			def.Source.Key = key
			if _, known := def.slots[key]; !known {
				p.fail(v, "source.key", "no field %q in source.fields", key)
			}
		}
	}
	if v := src.vals["repartition"]; v != nil {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
			p.fail(v, "source.repartition", "want true or false, got %s", kindName(v))
		} else {
			def.Source.Repartition = v.Value == "true"
		}
	}
	if v := src.vals["time"]; v != nil {
		if name, ok := p.str(v, "source.time"); ok {
			def.Source.Time = name
			if t := p.fieldType(def, name); t != Timestamp {
				p.fail(v, "source.time", "want a timestamp field of source.fields, got %s", p.describe(def, name))
			}
		}
	}
}

func (p *parser) schema(def *Definition, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "source.fields", "want a mapping of field names to number, string or timestamp, got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		p.fail(n, "source.fields", "want at least one field")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		path := join("source.fields", k.Value)
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			p.fail(k, "source.fields", "want a non-empty field name, got %s", kindName(k))
			continue
		}
		if _, dup := def.slots[k.Value]; dup {
			p.fail(k, path, "duplicate field")
			continue
		}
		t, ok := fieldTypeNames[v.Value]
		if v.Kind != yaml.ScalarNode || !ok {
			p.fail(v, path, "unknown type %s; want number, string or timestamp", kindName(v))
			continue
		}
		def.Source.Fields = append(def.Source.Fields, Field{Name: k.Value, Type: t})
		if t == String {
			def.slots[k.Value] = slot{str: true, i: def.nStr}
			def.nStr++
		} else {
			def.slots[k.Value] = slot{i: def.nNum}
			def.nNum++
		}
	}
}

// fieldType returns the type of a schema or derived field, 0 if unknown.
func (p *parser) fieldType(def *Definition, name string) FieldType {
	s, ok := def.slots[name]
	switch {
	case !ok:
		return 0
	case s.str:
		return String
	case s.i >= def.nNum:
		return Number // derived
	}
	for _, f := range def.Source.Fields {
		if f.Name == name {
			return f.Type
		}
	}
	for _, t := range def.Tables {
		for _, f := range t.Fields {
			if t.JoinedName(f.Name) == name {
				return f.Type
			}
		}
	}
	return 0
}

// table parses one entry of tables: its fields become event fields
// NAME_FIELD, after the source's.
func (p *parser) table(def *Definition, n *yaml.Node, path string) {
	f, ok := p.mapping(n, path, "name", "topic", "key", "fields")
	if !ok {
		return
	}
	var t Table
	if v := p.required(f, "name"); v != nil {
		t.Name, _ = p.str(v, path+".name")
	}
	if v := p.required(f, "topic"); v != nil {
		t.Topic, _ = p.str(v, path+".topic")
	}
	if v := p.required(f, "key"); v != nil {
		if key, ok := p.str(v, path+".key"); ok {
			t.Key = key
			if ft := p.fieldType(def, key); ft != String && ft != Number {
				p.fail(v, path+".key", "want a string or number field of source.fields, got %s", p.describe(def, key))
			}
		}
	}
	v := p.required(f, "fields")
	if v == nil {
		return
	}
	v = deref(v)
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		p.fail(v, path+".fields", "want a mapping of field names to number or string")
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, tv := v.Content[i], deref(v.Content[i+1])
		ft, ok := fieldTypeNames[tv.Value]
		if tv.Kind != yaml.ScalarNode || !ok || ft == Timestamp {
			p.fail(tv, join(path+".fields", k.Value), "unknown type %s; want number or string", kindName(tv))
			continue
		}
		name := t.JoinedName(k.Value)
		if _, dup := def.slots[name]; dup {
			p.fail(k, join(path+".fields", k.Value), "%q is already a field", name)
			continue
		}
		t.Fields = append(t.Fields, Field{Name: k.Value, Type: ft})
		if ft == String {
			def.slots[name] = slot{str: true, i: def.nStr}
			def.nStr++
		} else {
			def.slots[name] = slot{i: def.nNum}
			def.nNum++
		}
	}
	def.Tables = append(def.Tables, t)
}

func (p *parser) describe(def *Definition, name string) string {
	if t := p.fieldType(def, name); t != 0 {
		return fmt.Sprintf("%q, a %s field", name, t)
	}
	return fmt.Sprintf("%q, which is not a field", name)
}

// numberField resolves a field that must hold numbers: a number or
// timestamp field of the schema, or a derived field.
func (p *parser) numberField(def *Definition, n *yaml.Node, path, name string) bool {
	switch p.fieldType(def, name) {
	case Number, Timestamp:
		return true
	case String:
		p.fail(n, path, "field %q is a string; want a number field", name)
	default:
		p.fail(n, path, "no field %q in source.fields or derived", name)
	}
	return false
}

func (p *parser) derived(def *Definition, n *yaml.Node, path string) {
	f, ok := p.mapping(n, path, "name", "add", "sub", "mul", "div")
	if !ok {
		return
	}
	d := Derived{}
	nameOK := false
	if v := p.required(f, "name"); v != nil {
		if d.Name, nameOK = p.str(v, path+".name"); nameOK {
			if _, dup := def.slots[d.Name]; dup {
				p.fail(v, path+".name", "%q is already a field", d.Name)
				nameOK = false
			}
		}
	}
	var args *yaml.Node
	for i := 0; i+1 < len(f.n.Content); i += 2 { // in file order
		idx := slices.Index(opNames, f.n.Content[i].Value)
		if idx <= 0 || f.vals[opNames[idx]] != deref(f.n.Content[i+1]) {
			continue
		}
		op := Op(idx)
		if d.Op != 0 {
			p.fail(f.n.Content[i], join(path, op.String()), "a derived field has one operation; %s is already given", d.Op)
			continue
		}
		d.Op, args = op, f.vals[op.String()]
	}
	if d.Op == 0 {
		p.fail(n, path, "missing the operation: want one of add, sub, mul, div with two operands")
	} else if p.operands(def, &d, args, join(path, d.Op.String())) && nameOK {
		def.slots[d.Name] = slot{i: def.nNum + len(def.Derived)}
		def.Derived = append(def.Derived, d)
	}
}

func (p *parser) operands(def *Definition, d *Derived, n *yaml.Node, path string) bool {
	items := p.list(n, path)
	if n.Kind != yaml.SequenceNode {
		return false
	}
	if len(items) != 2 {
		p.fail(n, path, "want two operands (a field name or a number each), got %d", len(items))
		return false
	}
	ok := true
	for i, a := range items {
		a = deref(a)
		ipath := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case isNumber(a):
			d.Args[i].Const, _ = p.number(a, ipath)
		case a.Kind == yaml.ScalarNode && a.Tag == "!!str":
			d.Args[i].Field = a.Value
			ok = p.numberField(def, a, ipath, a.Value) && ok
		default:
			p.fail(a, ipath, "want a field name or a number, got %s", kindName(a))
			ok = false
		}
	}
	return ok
}

func (p *parser) aggregate(n *yaml.Node, path string) Aggregate {
	name, ok := p.str(n, path)
	if !ok {
		return 0
	}
	for a := Count; a <= TimeSinceLast; a++ {
		if a.String() == name {
			return a
		}
	}
	p.fail(n, path, "unknown aggregate %q; want one of %s", name, strings.Join(aggregateNames[1:], ", "))
	return 0
}
