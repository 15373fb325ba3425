package main

import (
	"strings"
	"testing"
)

// flint monitor refuses a bad flag before it opens anything, naming it.
func TestMonitorBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--predictions", "p"}, `required flag(s) "model" not set`},
		{[]string{"--model", "m", "--predictions", "p", "--window", "0"}, "--window 0: want a positive value"},
		{[]string{"--model", "m", "--predictions", "p", "--threshold", "-0.1"}, "--threshold -0.1: want a positive value"},
		{[]string{"--model", "m", "--predictions", "p", "--retrain", "job"}, "--retrain and --driver go together"},
	} {
		_, stderr, err := run(t, "", append([]string{"--store", "dir:" + t.TempDir(), "monitor"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error()+stderr, tc.want) {
			t.Errorf("flint monitor %v: %v %s; want %q", tc.args, err, stderr, tc.want)
		}
	}
}
