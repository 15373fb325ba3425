package join

import (
	"encoding/json"
	"testing"
)

func TestWithLabel(t *testing.T) {
	tests := []struct{ fields, want string }{
		{`{}`, `{"label":7}`},
		{`{"a": 1}`, `{"a": 1,"label":7}`},
		{` { "label" : "old", "a":[1, {"label":2}] } `, `{"a":[1, {"label":2}],"label":7}`},
		{`{"a":1,"label":2,"b":"c"}`, `{"a":1,"b":"c","label":7}`},
	}
	for _, tc := range tests {
		got, err := withLabel([]byte(tc.fields), "label", []byte(`7`))
		if err != nil || string(got) != tc.want {
			t.Errorf("withLabel(%s) = %s, %v; want %s", tc.fields, got, err, tc.want)
		}
	}
	for _, bad := range []string{``, `[1]`, `{"a":}`, `{"a":1} x`} {
		if got, err := withLabel([]byte(bad), "label", []byte(`7`)); err == nil {
			t.Errorf("withLabel(%q) = %s, want an error", bad, got)
		}
	}
}

func FuzzWithLabel(f *testing.F) {
	f.Add([]byte(`{"a": 1, "label": 2}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, fields []byte) {
		out, err := withLabel(fields, "label", []byte(`"y"`))
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("withLabel(%q) = %q: %v", fields, out, err)
		}
		if string(m["label"]) != `"y"` {
			t.Fatalf("withLabel(%q) = %q: label %s", fields, out, m["label"])
		}
	})
}
