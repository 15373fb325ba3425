package trainer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flintml/flint/features"
)

// Plan describes what Run would do with a spec, for --dry-run.
func Plan(s *Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s: valid\n", s.Name)
	src := s.Source
	if src.Topic != "" {
		from, to := src.From, src.To
		if from == "" {
			from = "earliest"
		}
		if to == "" {
			to = "latest"
		}
		fmt.Fprintf(&b, "  source: topic %s, every partition from %s to %s", src.Topic, from, to)
		if src.Split > 1 {
			fmt.Fprintf(&b, ", %d dataset partitions per log partition", src.Split)
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "  source: %d file(s): %s\n", len(src.Files), strings.Join(src.Files, ", "))
	}
	fmt.Fprintf(&b, "  schema: %s records with %d fields", orDefault(s.Schema.Format, "json"), len(s.Schema.Fields))
	if s.Schema.Label != "" {
		fmt.Fprintf(&b, ", label %s", s.Schema.Label)
	}
	b.WriteString("\n")
	if _, a, _ := s.Algorithm.chosen(); a.input() == featureRows {
		if p, err := features.New(s.Schema, s.Transforms); err == nil {
			fmt.Fprintf(&b, "  features: %d transform(s) → a vector of %d (one-hot widths are known after fitting)\n", len(s.Transforms), p.Width())
			for i, t := range s.Transforms {
				def := t.Type + "_" + t.Inputs[0]
				if t.Type == "assembler" {
					def = "features"
				}
				fmt.Fprintf(&b, "    %d. %s(%s) → %s\n", i+1, t.Type, strings.Join(t.Inputs, ", "), orDefault(t.Output, def))
			}
		}
	}
	if f := s.Features; f != nil {
		fmt.Fprintf(&b, "  streaming features: the aggregates of %s, as of each record's %s, by entity key %s\n",
			f.Definition, orDefault(f.Time, "log timestamp"), orDefault(f.Key, "(the definition's key)"))
	}
	fmt.Fprintf(&b, "  algorithm: %s\n", s.Algorithm.Name())
	planEvaluation(&b, s)
	workers := "one worker per core"
	if s.Engine.Workers > 0 {
		workers = fmt.Sprintf("%d workers", s.Engine.Workers)
	}
	fmt.Fprintf(&b, "  engine: %s", workers)
	if s.Engine.MemoryLimit > 0 {
		fmt.Fprintf(&b, ", memory limit %d bytes", int64(s.Engine.MemoryLimit))
	}
	b.WriteString("\n")
	model := orDefault(s.Output.Model, s.Name)
	fmt.Fprintf(&b, "  output: the next version of model %s", model)
	if s.Output.Alias != "" {
		fmt.Fprintf(&b, "; alias %s moves to it", s.Output.Alias)
		if len(s.Output.Min)+len(s.Output.Max) > 0 {
			b.WriteString(" if the thresholds hold")
		}
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  bad records: %s\n", orDefault(s.OnBadRecord, "fail"))
	return b.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// planEvaluation describes which rows the metrics are of and how a grid
// chooses.
func planEvaluation(b *strings.Builder, s *Spec) {
	ev := s.Evaluation
	switch frac := ev.testFraction(); {
	case ev.Test != nil:
		t := ev.testSource(s.Source)
		if len(t.Files) > 0 {
			fmt.Fprintf(b, "  evaluation: metrics of %d test file(s): %s", len(t.Files), strings.Join(t.Files, ", "))
		} else {
			fmt.Fprintf(b, "  evaluation: metrics of topic %s from %s to %s", t.Topic, orDefault(t.From, "earliest"), orDefault(t.To, "latest"))
		}
	case frac == 0:
		b.WriteString("  evaluation: metrics of the training rows (test_fraction: 0 holds none out)")
	default:
		fmt.Fprintf(b, "  evaluation: metrics of %.0f%% of rows held out (seed %d)", frac*100, seedOr(ev.Seed))
	}
	if ev.Folds > 0 && len(ev.Grid) == 0 {
		fmt.Fprintf(b, "; %d-fold cross-validation of the training rows", ev.Folds)
	}
	if len(ev.Metrics) > 0 {
		fmt.Fprintf(b, ", metrics %s", strings.Join(ev.Metrics, ", "))
	}
	b.WriteString("\n")
	if len(ev.Grid) > 0 {
		names := make([]string, 0, len(ev.Grid))
		for n := range ev.Grid {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s %v", n, ev.Grid[n])
		}
		fmt.Fprintf(b, "  grid: %d points: %s\n", gridSize(ev.Grid), strings.Join(parts, "; "))
		_, a, _ := s.Algorithm.chosen()
		by := a.selectBy()
		if len(ev.Metrics) > 0 {
			by = ev.Metrics[0]
		}
		if ev.Folds > 0 {
			fmt.Fprintf(b, "    chosen by the mean %s of %d-fold cross-validation of the training rows", by, ev.Folds)
		} else {
			fmt.Fprintf(b, "    chosen by %s on %.0f%% of the training rows, fitted on the rest", by, ev.validationFraction()*100)
		}
		if ev.refit() {
			b.WriteString("; the chosen point is fitted again on all the training rows\n")
		} else {
			b.WriteString("; its model from the search is published (refit: false)\n")
		}
	}
}
