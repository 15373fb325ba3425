package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer/jobs"
)

// runFollow runs a triggered job in the foreground (flint train --follow):
// once at once, then each time its trigger fires, printing each run's
// summary, until Ctrl-C. The runs are recorded as jobs in the model store
// (jobs/ID.json), as a driver's are; the trigger itself is not kept.
func runFollow(ctx context.Context, s streams, file string, data []byte, l log.Log, store models.Store, x cluster.Cluster, logger *slog.Logger) error {
	m, err := jobs.NewManager(ctx, jobs.ManagerConfig{Store: store, Log: l, Cluster: x, Logger: logger, FlintVersion: version})
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintf(s.err, "following %s: it runs now and again each time its trigger fires (Ctrl-C stops)\n", file)
	err = m.Follow(ctx, file, data, func(j jobs.Job) {
		switch {
		case j.State == jobs.Succeeded && j.Result != nil:
			fmt.Fprintf(s.out, "run %s (%s):\n", j.ID, j.Trigger)
			printSummary(s.out, j.Result.Result())
		default:
			fmt.Fprintf(s.out, "run %s (%s) %s: %s\n", j.ID, j.Trigger, j.State, j.Error)
		}
	})
	if ctx.Err() != nil {
		fmt.Fprintln(s.err, "stopped following (a run in progress, if any, was canceled and published nothing)")
		return nil
	}
	return err
}
