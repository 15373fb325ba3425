package trainer

import (
	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/ml"
)

// The shared fixtures (internal/trainertest).
var (
	clicksCSV   = trainertest.ClicksCSV
	jobSpec     = trainertest.JobSpec
	quietLogger = trainertest.QuietLogger
	writeLines  = trainertest.WriteLines
)

// iterHook is an Observer that calls fn on every iteration.
type iterHook func(trial int, p ml.Progress)

func (iterHook) Phase(string)                                {}
func (h iterHook) Iteration(trial int, p ml.Progress, _ int) { h(trial, p) }
