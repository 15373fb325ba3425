package trainer

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flintml/flint/log"
)

// Trigger says when a driver (flint driver, flint train --follow) runs a
// job again: every interval, every N new records on its source topic, or
// whichever of the two comes first.
type Trigger struct {
	Every   time.Duration `yaml:"every" doc:"Run the job again this long after its last run started, e.g. 10m (at least 1s)."`
	Records int64         `yaml:"records" doc:"Run the job again once this many records have been appended to the source topic (all partitions together) after the offsets its last run read up to. With every as well, whichever comes first."`
}

// Window bounds a topic to its most recent records: the last N records of
// each partition, or the records whose log time is within a duration of
// the run's start (their first offset looked up by time).
type Window struct {
	Records int64         `yaml:"records" doc:"The last this many records of each partition."`
	Last    time.Duration `yaml:"last" doc:"The records whose log time is within this of the run's start, e.g. 24h (the first offset is looked up by time in each partition)."`
}

// given reports whether the window bounds anything.
func (w *Window) given() bool { return w != nil && (w.Records > 0 || w.Last > 0) }

func (w *Window) String() string {
	if w.Records > 0 {
		return fmt.Sprintf("the last %d records of each partition", w.Records)
	}
	return fmt.Sprintf("the records of the last %v", w.Last)
}

// Promote is the champion/challenger promotion of a job's new version:
// the new version (the challenger) and the version behind Alias (the
// champion) are both scored on the same recent records held out by time,
// which the challenger is never trained on, and the alias moves only if
// the challenger is better by Margin and passes output.min and output.max.
type Promote struct {
	Alias   string  `yaml:"alias" doc:"The alias to move to the new version when it beats the version behind it, e.g. production." required:"true"`
	Metric  string  `yaml:"metric" doc:"The metric both versions are compared by (default: the first of evaluation.metrics, else the algorithm's: rmse for linear regression, accuracy for classifiers)."`
	Margin  float64 `yaml:"margin" doc:"How much better the new version must be, in the metric's units (default 0: at least as good). For a metric where smaller is better (rmse, mae, logloss) better means smaller."`
	Holdout Window  `yaml:"holdout" doc:"The most recent records of the source, held out of training, that both versions are scored on: records (the last N of each partition) or last (a duration of log time)." required:"true"`
}

// warmStart says whether a run starts from the previous version's
// parameters: warm_start as given, else true for a triggered job.
func (s *Spec) warmStart() bool {
	if s.WarmStart != nil {
		return *s.WarmStart
	}
	return s.Trigger != nil
}

// warmStartable lists the algorithms whose fit can start from a previous
// model's parameters.
var warmStartable = []string{"linear_regression", "logistic_regression", "linear_svc", "kmeans", "mlp", "als"}

// promotable lists the algorithms a promotion can compare: their models
// score held-out feature rows by a label.
var promotable = []string{"linear_regression", "logistic_regression", "linear_svc", "mlp", "naive_bayes"}

// validateLoop checks trigger, source.window, warm_start and promote.
func (s *Spec) validateLoop(d *decoder, name string, a algo) {
	if t := s.Trigger; t != nil {
		switch {
		case t.Every == 0 && t.Records == 0:
			d.at("trigger", "give every (an interval), records (a count of new records) or both")
		case t.Records < 0:
			d.at("trigger.records", "must not be negative, got %d", t.Records)
		case t.Records > 0 && s.Source.Topic == "":
			d.at("trigger.records", "counts new records of a topic source; this job reads files (use every)")
		}
		if t.Every > 0 && t.Every < time.Second {
			d.at("trigger.every", "must be at least 1s, got %v", t.Every)
		}
		if s.Source.To != "" && s.Source.To != "latest" {
			d.at("source.to", "a triggered job reads up to the latest offset each run; drop to: %s", s.Source.To)
		}
	}
	if w := s.Source.Window; w != nil {
		checkWindow(d, "source.window", w)
		if len(s.Source.Files) > 0 {
			d.at("source.window", "applies to a topic source, not files")
		}
		if (s.Source.From != "" && s.Source.From != "earliest") || (s.Source.To != "" && s.Source.To != "latest") {
			d.at("source.window", "give from/to or window, not both")
		}
	}
	if t := s.Evaluation.Test; t != nil && t.Window != nil {
		d.at("evaluation.test.window", "applies to the job's source only")
	}
	if s.WarmStart != nil && *s.WarmStart && name != "" && !slices.Contains(warmStartable, name) {
		d.at("warm_start", "%s cannot start from a previous model's parameters; warm start applies to %s", name, strings.Join(warmStartable, ", "))
	}
	if p := s.Promote; p != nil {
		s.validatePromote(d, name, a, p)
	}
}

// checkWindow checks a window: exactly one of records and last.
func checkWindow(d *decoder, path string, w *Window) {
	switch {
	case w.Records < 0:
		d.at(path+".records", "must not be negative, got %d", w.Records)
	case w.Records > 0 && w.Last > 0:
		d.at(path, "give records or last, not both")
	case w.Records == 0 && w.Last == 0:
		d.at(path, "give records (the last N of each partition) or last (a duration of log time)")
	}
}

func (s *Spec) validatePromote(d *decoder, name string, a algo, p *Promote) {
	if p.Alias == "" {
		d.at("promote.alias", "required: the alias the new version may take, e.g. production")
	} else if err := log.ValidTopicName(p.Alias); err != nil || p.Alias[0] >= '0' && p.Alias[0] <= '9' {
		d.at("promote.alias", "%q: start with a letter; use letters, digits, '.', '_' and '-'", p.Alias)
	}
	if s.Output.Alias != "" {
		d.at("output.alias", "with promote, the alias is promote.alias; drop output.alias")
	}
	if p.Margin < 0 {
		d.at("promote.margin", "must not be negative, got %v", p.Margin)
	}
	checkWindow(d, "promote.holdout", &p.Holdout)
	if s.Source.Topic == "" {
		d.at("promote.holdout", "holds out the most recent records of a topic; this job reads files")
	}
	if s.Evaluation.Test != nil || s.Evaluation.TestFraction != nil {
		d.at("promote.holdout", "the held-out recent records are the rows the metrics are reported on; drop evaluation.test and evaluation.test_fraction")
	}
	if s.Features != nil {
		d.at("promote", "a promotion cannot yet score the version behind the alias with streaming features; drop features or promote")
	}
	if a == nil {
		return
	}
	if !slices.Contains(promotable, name) {
		d.at("promote", "%s has no label to compare two versions by; promote applies to %s", name, strings.Join(promotable, ", "))
		return
	}
	if p.Metric != "" && !slices.Contains(a.metrics(), p.Metric) {
		d.at("promote.metric", "%q is not a metric of %s: want one of %s", p.Metric, name, strings.Join(a.metrics(), ", "))
	}
}

// promoteMetric is the metric a promotion compares by.
func (s *Spec) promoteMetric(a algo) string {
	if m := s.Promote.Metric; m != "" {
		return m
	}
	if m := s.Evaluation.Metrics; len(m) > 0 {
		return m[0]
	}
	return a.selectBy()
}
