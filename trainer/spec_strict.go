package trainer

import (
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"
)

// DecodeYAML decodes a YAML document into v, a pointer to a struct, as
// ParseSpec decodes a job spec: strictly (unknown fields, wrong types and
// malformed values are errors, with a suggestion for a misspelt field),
// then calls check, if not nil, to validate what the types cannot. check
// reports a problem with at(path, format, args...), path being a field
// path such as "algorithm.streaming_kmeans.k"; it is placed at the
// position of that field or its nearest ancestor. Every problem is
// returned at once as SpecErrors, each naming file:line:column and the
// path, in file order. Other specs (flint online's) use it.
func DecodeYAML(file string, data []byte, v any, check func(at func(path, format string, args ...any))) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return SpecErrors{syntaxError(file, data, err)}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return SpecErrors{{File: file, Msg: "the file is empty"}}
	}
	d := &decoder{file: file, pos: map[string]Pos{}}
	d.decode(&root, reflect.ValueOf(v).Elem(), "")
	if check != nil {
		check(d.at)
	}
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b SpecError) int {
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Col - b.Pos.Col
		})
		return d.errs
	}
	return nil
}
