package trainer

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/flintml/flint/features"
)

// fieldDocs documents the fields of types from other packages that a spec
// embeds, which carry no doc tags of their own.
var fieldDocs = map[string]string{
	"Schema.format":                "json (default), csv, libsvm or vector (raw little-endian float64s: label then one vector). Besides records of the format, a topic may hold binary records, written by flint ingest --encode f32|f64 and read with the same schema (docs/binary-records.md).",
	"Schema.fields":                "The record's fields, in CSV column order unless columns is given.",
	"Schema.label":                 "The label field: numeric, or categorical (class names, indexed in lexical order unless classes is given).",
	"Schema.classes":               "Class names of a categorical label, in index order.",
	"Schema.weight":                "A numeric field of sample weights.",
	"Schema.columns":               "CSV column order by field name; an empty name skips a column.",
	"Schema.delimiter":             "CSV delimiter (default ',').",
	"Schema.ignore_unknown":        "JSON records: skip fields the schema does not name instead of refusing the record (default false).",
	"Field.name":                   "Field name, as in JSON records.",
	"Field.type":                   "numeric, categorical, text, vector or timestamp (RFC 3339 or Unix seconds).",
	"Field.dim":                    "Length of a vector field.",
	"Field.optional":               "The field may be missing or null (numbers then need an imputer).",
	"TransformSpec.type":           "imputer, standard_scaler, minmax_scaler, one_hot, ordinal, hashing, bucketizer, quantile_discretizer, polynomial, tfidf or assembler (last; names the columns of the feature vector).",
	"TransformSpec.inputs":         "Fields or outputs of earlier transforms.",
	"TransformSpec.output":         "Name of the output column (default <type>_<first input>).",
	"TransformSpec.strategy":       "imputer: mean (default), median or constant.",
	"TransformSpec.value":          "imputer: the constant.",
	"TransformSpec.with_mean":      "standard_scaler: centre (default false).",
	"TransformSpec.with_std":       "standard_scaler: scale to unit variance (default true).",
	"TransformSpec.min":            "minmax_scaler: low end of the range (default 0).",
	"TransformSpec.max":            "minmax_scaler: high end of the range (default 1).",
	"TransformSpec.handle_unknown": "one_hot, ordinal: ignore (default) or error for categories not seen in training.",
	"TransformSpec.max_categories": "one_hot, ordinal: keep only the most frequent categories.",
	"TransformSpec.buckets":        "hashing, tfidf: number of buckets (default 1024); quantile_discretizer: number of buckets (default 10).",
	"TransformSpec.splits":         "bucketizer: increasing split points.",
	"TransformSpec.degree":         "polynomial: degree (default 2).",
}

// JSONSchema returns a JSON Schema (draft 2020-12) of the job spec, with
// every field's documentation.
func JSONSchema() ([]byte, error) {
	s := schemaOf(reflect.TypeOf(Spec{}))
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["title"] = "Flint training job"
	return json.MarshalIndent(s, "", "  ")
}

func schemaOf(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return map[string]any{"type": "string", "description": "a duration such as 30s"}
	case t == reflect.TypeOf(ByteSize(0)):
		return map[string]any{"type": []string{"string", "integer"}, "description": "a size such as 512MiB or 4GiB"}
	case t == reflect.TypeOf(features.FieldType("")):
		return map[string]any{"type": "string", "enum": []string{"numeric", "categorical", "text", "vector", "timestamp"}}
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		walkFields(t, func(f reflect.StructField, name string) {
			p := schemaOf(f.Type)
			if doc := docOf(t, f, name); doc != "" {
				p["description"] = doc
			}
			props[name] = p
			if f.Tag.Get("required") == "true" {
				required = append(required, name)
			}
		})
		m := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			sort.Strings(required)
			m["required"] = required
		}
		return m
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// walkFields visits a struct's YAML fields in order, flattening inline
// embedded structs.
func walkFields(t reflect.Type, fn func(f reflect.StructField, name string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && strings.Contains(f.Tag.Get("yaml"), ",inline") {
			walkFields(f.Type, fn)
			continue
		}
		if name := yamlName(f); name != "" {
			fn(f, name)
		}
	}
}

func docOf(owner reflect.Type, f reflect.StructField, name string) string {
	if d := f.Tag.Get("doc"); d != "" {
		return d
	}
	return fieldDocs[owner.Name()+"."+name]
}

// Reference returns the Markdown reference of every spec field.
func Reference() string {
	var b strings.Builder
	b.WriteString("# Training job spec reference\n\n")
	b.WriteString("Generated from the Go types in `trainer/spec.go` by `go test ./trainer -run TestDocs -update`; the JSON Schema beside this file is generated the same way.\n\n")
	b.WriteString("| field | type | required | meaning |\n|---|---|---|---|\n")
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		walkFields(t, func(f reflect.StructField, name string) {
			path := prefix + name
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			req := ""
			if f.Tag.Get("required") == "true" {
				req = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", path, typeName(f.Type), req, strings.ReplaceAll(docOf(t, f, name), "|", "\\|"))
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Duration(0)):
				walk(ft, path+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), path+"[].")
			}
		})
	}
	walk(reflect.TypeOf(Spec{}), "")
	return b.String()
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeOf(ByteSize(0)):
		return "size"
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration"
	case t == reflect.TypeOf(features.FieldType("")):
		return "string"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "mapping"
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "mapping of " + typeName(t.Elem())
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}
