package stream

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

func (p *parser) feature(def *Definition, n *yaml.Node, path string) (Feature, bool) {
	before := len(p.errs)
	f, ok := p.mapping(n, path, "name", "aggregate", "field", "precision", "window", "where")
	if !ok {
		return Feature{}, false
	}
	ft := Feature{}
	if v := p.required(f, "name"); v != nil {
		ft.Name, _ = p.str(v, path+".name")
	}
	if v := p.required(f, "aggregate"); v != nil {
		ft.Aggregate = p.aggregate(v, path+".aggregate")
	}
	p.featureField(def, &ft, f, path)
	if v := f.vals["precision"]; v != nil {
		var prec int
		switch {
		case ft.Aggregate != 0 && ft.Aggregate != DistinctCount:
			p.fail(v, path+".precision", "only distinct_count takes a precision, not %s", ft.Aggregate)
		case !isNumber(v) || v.Tag != "!!int" || v.Decode(&prec) != nil || prec < 4 || prec > 16:
			p.fail(v, path+".precision", "want a whole number from 4 to 16 (2^precision registers), got %s", kindName(v))
		default:
			ft.Precision = uint8(prec)
		}
	} else if ft.Aggregate == DistinctCount {
		ft.Precision = defaultHLLP
	}
	if v := p.required(f, "window"); v != nil {
		ft.Window, _ = p.window(v, path+".window")
		if ft.Aggregate == DistinctCount && ft.Window.Kind != 0 && ft.Precision != 0 {
			if bytes := ft.Window.buckets() << ft.Precision; bytes > maxRegisterSize {
				p.fail(v, path+".window", "distinct_count keeps %d buckets of %d registers (%d bytes) per key; at most %d: use a lower precision or a coarser bucket",
					ft.Window.buckets(), 1<<ft.Precision, bytes, maxRegisterSize)
			}
		}
	}
	if v := f.vals["where"]; v != nil {
		for i, item := range p.list(v, path+".where") {
			if flt, ok := p.filter(def, item, fmt.Sprintf("%s.where[%d]", path, i)); ok {
				ft.Where = append(ft.Where, flt)
			}
		}
	}
	return ft, len(p.errs) == before
}

// featureField decodes a feature's field: none for count and
// time_since_last, a number field for the numeric aggregates, any field
// for distinct_count.
func (p *parser) featureField(def *Definition, ft *Feature, f fields, path string) {
	v := f.vals["field"]
	switch ft.Aggregate {
	case 0:
		return
	case Count, TimeSinceLast:
		if v != nil {
			p.fail(v, path+".field", "%s takes no field", ft.Aggregate)
		}
		return
	}
	if v = p.required(f, "field"); v == nil {
		return
	}
	name, ok := p.str(v, path+".field")
	if !ok {
		return
	}
	ft.Field = name
	if ft.Aggregate == DistinctCount {
		if _, known := def.slots[name]; !known {
			p.fail(v, path+".field", "no field %q in source.fields or derived", name)
		}
		return
	}
	p.numberField(def, v, path+".field", name)
}

func (p *parser) window(n *yaml.Node, path string) (Window, bool) {
	f, ok := p.mapping(n, path, "sliding", "resolution", "tumbling", "hopping", "every")
	if !ok {
		return Window{}, false
	}
	w := Window{}
	var kindNode *yaml.Node
	for k := Sliding; k <= Hopping; k++ {
		if v := f.vals[k.String()]; v != nil {
			if w.Kind != 0 {
				p.fail(v, join(path, k.String()), "a window has one kind; %s is already given", w.Kind)
				continue
			}
			w.Kind, kindNode = k, v
		}
	}
	if w.Kind == 0 {
		p.fail(n, path, "missing the window: want sliding (with resolution), tumbling, or hopping (with every)")
		return Window{}, false
	}
	size, ok := p.duration(kindNode, join(path, w.Kind.String()), false)
	w.Size = size
	stepKey := map[WindowKind]string{Sliding: "resolution", Hopping: "every"}[w.Kind]
	for _, key := range []string{"resolution", "every"} {
		if v := f.vals[key]; v != nil && key != stepKey {
			p.fail(v, join(path, key), "a %s window takes no %s", w.Kind, key)
			ok = false
		}
	}
	if w.Kind == Tumbling {
		w.Step = w.Size
		return w, ok
	}
	v := f.vals[stepKey]
	if v == nil {
		p.fail(n, path, "missing field %q: a %s window needs it", stepKey, w.Kind)
		return Window{}, false
	}
	step, stepOK := p.duration(v, join(path, stepKey), false)
	if !ok || !stepOK {
		return Window{}, false
	}
	w.Step = step
	switch {
	case size%step != 0:
		p.fail(v, join(path, stepKey), "%s %s does not divide the window's %s", stepKey, fmtMS(step), fmtMS(size))
	case size/step+1 > maxBuckets:
		p.fail(v, join(path, stepKey), "the window would keep %d buckets of %s per key; at most %d: use a coarser %s",
			size/step+1, fmtMS(step), maxBuckets, stepKey)
	default:
		return w, true
	}
	return Window{}, false
}

func (p *parser) filter(def *Definition, n *yaml.Node, path string) (Filter, bool) {
	f, ok := p.mapping(n, path, "field", "op", "value")
	if !ok {
		return Filter{}, false
	}
	flt := Filter{}
	var typ FieldType
	if v := p.required(f, "field"); v != nil {
		if name, ok := p.str(v, path+".field"); ok {
			flt.Field = name
			if typ = p.fieldType(def, name); typ == 0 {
				p.fail(v, path+".field", "no field %q in source.fields or derived", name)
			}
		}
	}
	if v := p.required(f, "op"); v != nil {
		if name, ok := p.str(v, path+".op"); ok {
			for c := Eq; c <= Ge; c++ {
				if c.String() == name {
					flt.Cmp = c
				}
			}
			switch {
			case flt.Cmp == 0:
				p.fail(v, path+".op", "unknown comparison %q; want one of %s", name, strings.Join(cmpNames[1:], " "))
			case typ == String && flt.Cmp != Eq && flt.Cmp != Ne:
				p.fail(v, path+".op", "field %q is a string: want == or !=", flt.Field)
			}
		}
	}
	v := p.required(f, "value")
	switch {
	case v == nil || typ == 0:
	case typ == String:
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			p.fail(v, path+".value", "field %q is a string: want a string, got %s", flt.Field, kindName(v))
		}
		flt.Str = v.Value
	default:
		flt.Num, _ = p.number(v, path+".value")
	}
	return flt, flt.Cmp != 0 && typ != 0
}
