package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/serving/predlog/join"
)

type joinOptions struct {
	predictions, labels, out string
	group, state, labelField string
	window                   time.Duration
	metrics                  string
}

func newPredictionsCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "predictions",
		Short: "Work with the prediction log of flint serve",
	}
	var o joinOptions
	j := &cobra.Command{
		Use:   "join --predictions TOPIC --labels TOPIC --out TOPIC --state DIR",
		Short: "Join logged predictions with labels that arrive later into a training topic",
		Long: `Join the prediction log (flint serve --prediction-log) with label events, by request
id, into a topic a job spec can train on, until interrupted.

A label event is a JSON object in the --labels topic:
  {"id": "REQUEST-ID", "row": 0, "label": VALUE}
where REQUEST-ID is what flint serve answered in X-Request-Id (or the client sent),
and row the row of the request (default 0). Each logged row whose label comes within
--window of it, in either order, becomes one record of --out: the row's fields as the
client sent them plus the label under --label-field, so a schema with the raw fields
and the label reads it. Headers carry the model, version and prediction.

Rows without a label within the window, and labels without a logged row (a request
that was not sampled), are dropped and counted (flint_join_records_total, at
--metrics-addr). Time is the records' log time, not the clock.

Every joined row is appended once: the waiting rows, the input offsets and the
places of the last appends are committed together in a Pebble store (--state), and a
restart does not append again what it finds there. Run one joiner per group. With
the embedded log it cannot run beside another process writing the log (flint serve
--prediction-log does): share the log through Kafka then.`,
		Example: `  flint --log kafka:localhost:9092 predictions join --predictions predictions --labels labels --out churn-train --state join-state --window 24h`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runJoin(cmd, s, o) },
	}
	f := j.Flags()
	f.StringVar(&o.predictions, "predictions", "", "the prediction log's topic (required)")
	f.StringVar(&o.labels, "labels", "", "the label events' topic (required)")
	f.StringVar(&o.out, "out", "", "the topic the joined rows are appended to (required; created when missing)")
	f.StringVar(&o.state, "state", "", "directory of the joiner's state store (required)")
	f.StringVar(&o.group, "group", "", `consumer group (default "flint-join-" + --out)`)
	f.StringVar(&o.labelField, "label-field", "label", "the label's field name in the joined rows")
	f.DurationVar(&o.window, "window", join.DefaultWindow, "how long a row waits for its label, and a label for its row")
	f.StringVar(&o.metrics, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (off when empty)")
	for _, n := range []string{"predictions", "labels", "out", "state"} {
		_ = j.MarkFlagRequired(n)
	}
	cmd.AddCommand(j)
	return cmd
}

func runJoin(cmd *cobra.Command, s streams, o joinOptions) error {
	ctx := cmd.Context()
	logSpec, _ := cmd.Flags().GetString("log")
	group := o.group
	if group == "" {
		group = "flint-join-" + o.out
	}
	l, err := openLog(ctx, logSpec)
	if err != nil {
		return groupNeedsWriter(err, group)
	}
	defer l.Close()
	logger := slog.New(slog.NewJSONHandler(s.err, nil))
	j, err := join.Open(ctx, join.Config{Log: l, Predictions: o.predictions, Labels: o.labels, Out: o.out, Group: group,
		StateDir: o.state, Window: o.window, LabelField: o.labelField, Logger: logger})
	if err != nil {
		return err
	}
	defer j.Close()
	if o.metrics != "" {
		stop, err := serveMetrics("--metrics-addr", o.metrics, j.Collectors(), logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(s.err, "flint predictions join: %s + %s -> %s (group %s, window %v, state %s)\n", o.predictions, o.labels, o.out, group, o.window, o.state)
	err = j.Run(ctx)
	st := j.Stats()
	fmt.Fprintf(s.err, "flint predictions join: joined %d rows; %d predictions expired, %d labels unmatched, %d records malformed\n",
		st.Joined, st.ExpiredPredictions, st.UnmatchedLabels, st.Malformed)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
