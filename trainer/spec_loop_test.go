package trainer

import (
	"strings"
	"testing"
)

// loopBase is a valid job the cases below add a trigger, window, warm
// start or promotion to (on lines 8 and after).
const loopBase = `name: loop
source: {topic: events}
schema:
  format: json
  fields: [{name: x, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm: {logistic_regression: {}}
`

// Bad trigger, window, warm_start and promote fields are reported at
// their file:line:column with the field path.
func TestLoopSpecErrors(t *testing.T) {
	cases := []struct {
		name, base, add string
		want            []string
	}{
		{"empty trigger", loopBase, "trigger: {}\n",
			[]string{"loop.yaml:8:10: trigger: give every (an interval), records (a count of new records) or both"}},
		{"negative records", loopBase, "trigger:\n  records: -5\n",
			[]string{"loop.yaml:9:12: trigger.records: must not be negative, got -5"}},
		{"short interval", loopBase, "trigger: {every: 10ms}\n",
			[]string{"loop.yaml:8:18: trigger.every: must be at least 1s, got 10ms"}},
		{"bad interval", loopBase, "trigger: {every: often}\n",
			[]string{`loop.yaml:8:18: trigger.every: want a duration such as 30s or 5m, got "often"`}},
		{"records of files", strings.Replace(loopBase, "{topic: events}", "{files: [a.json]}", 1), "trigger: {records: 100}\n",
			[]string{"loop.yaml:8:20: trigger.records: counts new records of a topic source; this job reads files (use every)"}},
		{"triggered with to", strings.Replace(loopBase, "{topic: events}", "{topic: events, to: 500}", 1), "trigger: {every: 1m}\n",
			[]string{"loop.yaml:2:29: source.to: a triggered job reads up to the latest offset each run; drop to: 500"}},
		{"window both", strings.Replace(loopBase, "{topic: events}", "{topic: events, window: {records: 10, last: 1h}}", 1), "",
			[]string{"loop.yaml:2:33: source.window: give records or last, not both"}},
		{"window empty", strings.Replace(loopBase, "{topic: events}", "{topic: events, window: {}}", 1), "",
			[]string{"loop.yaml:2:33: source.window: give records (the last N of each partition) or last (a duration of log time)"}},
		{"window with from", strings.Replace(loopBase, "{topic: events}", "{topic: events, from: 5, window: {records: 10}}", 1), "",
			[]string{"loop.yaml:2:42: source.window: give from/to or window, not both"}},
		{"window of files", strings.Replace(loopBase, "{topic: events}", "{files: [a.json], window: {last: 1h}}", 1), "",
			[]string{"loop.yaml:2:35: source.window: applies to a topic source, not files"}},
		{"warm naive bayes", strings.Replace(loopBase, "logistic_regression", "naive_bayes", 1), "warm_start: true\n",
			[]string{"loop.yaml:8:13: warm_start: naive_bayes cannot start from a previous model's parameters"}},
		{"promote without holdout", loopBase, "promote: {alias: production}\n",
			[]string{"loop.yaml:8:10: promote.holdout: give records (the last N of each partition) or last (a duration of log time)"}},
		{"promote bad fields", loopBase, "promote:\n  alias: 1prod\n  metric: rmse\n  margin: -0.1\n  holdout: {records: 10, last: 1h}\n",
			[]string{
				`loop.yaml:9:10: promote.alias: "1prod": start with a letter`,
				`loop.yaml:10:11: promote.metric: "rmse" is not a metric of logistic_regression`,
				"loop.yaml:11:11: promote.margin: must not be negative, got -0.1",
				"loop.yaml:12:12: promote.holdout: give records or last, not both",
			}},
		{"promote with output alias and test", loopBase, "output: {alias: production}\nevaluation: {test_fraction: 0.2}\npromote: {alias: production, holdout: {records: 10}}\n",
			[]string{
				"loop.yaml:8:17: output.alias: with promote, the alias is promote.alias; drop output.alias",
				"loop.yaml:10:39: promote.holdout: the held-out recent records are the rows the metrics are reported on",
			}},
		{"promote kmeans", strings.Replace(strings.Replace(loopBase, "{logistic_regression: {}}", "{kmeans: {k: 2}}", 1), "  label: y\n", "", 1),
			"promote: {alias: production, holdout: {last: 1h}}\n",
			[]string{"loop.yaml:7:10: promote: kmeans has no label to compare two versions by"}},
		{"promote files", strings.Replace(loopBase, "{topic: events}", "{files: [a.json]}", 1), "promote: {alias: p, holdout: {records: 10}}\n",
			[]string{"loop.yaml:8:30: promote.holdout: holds out the most recent records of a topic; this job reads files"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSpec("loop.yaml", []byte(c.base+c.add))
			if err == nil {
				t.Fatal("the spec was accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors do not include %q; got:\n%v", w, err)
				}
			}
		})
	}
	good := loopBase + "trigger: {every: 10m, records: 1000}\nwarm_start: true\npromote: {alias: production, metric: auc, margin: 0.01, holdout: {last: 10m}}\n"
	s, err := ParseSpec("loop.yaml", []byte(strings.Replace(good, "{topic: events}", "{topic: events, window: {last: 24h}}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Trigger.Records != 1000 || s.Promote.Holdout.Last.Minutes() != 10 || s.Source.Window.Last.Hours() != 24 || !s.warmStart() {
		t.Fatalf("parsed %+v %+v %+v", s.Trigger, s.Promote, s.Source.Window)
	}
}

// The triggered example in examples/ is a valid spec.
func TestTriggeredExampleParses(t *testing.T) {
	s, err := LoadSpec("../examples/houses-triggered.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Trigger == nil || s.Promote == nil || !s.warmStart() || s.Source.Window.Records != 20000 {
		t.Fatalf("parsed %+v", s)
	}
}
