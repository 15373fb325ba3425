package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConsoleSchemas(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "clicks.yaml")
	if err := os.WriteFile(good, []byte("fields: [{name: x, type: numeric}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("fields: [{name: x, type: complex}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vals []string
		want string // in the error; "" for none
	}{
		{[]string{"clicks=" + good}, ""},
		{[]string{"clicks=" + good, "views=" + good}, ""},
		{[]string{"clicks"}, `--console-schema "clicks": want TOPIC=FILE`},
		{[]string{"=" + good}, "want TOPIC=FILE"},
		{[]string{"a/b=" + good}, "invalid topic name"},
		{[]string{"clicks=" + good, "clicks=" + good}, "topic clicks is given twice"},
		{[]string{"clicks=" + filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"clicks=" + bad}, "bad.yaml"},
	} {
		got, err := loadConsoleSchemas(tc.vals, "--console-schema")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.vals, err)
		case tc.want == "" && len(got) != len(tc.vals):
			t.Errorf("%q: %d schemas, want %d", tc.vals, len(got), len(tc.vals))
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want one containing %q", tc.vals, err, tc.want)
		}
	}
}
