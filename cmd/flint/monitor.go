package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/serving/monitor"
)

type monitorOptions struct {
	model, predictions, labeled, group string
	window, labeledWindow              int
	threshold                          float64
	cooldown                           time.Duration
	retrain, driver, secretFile, tlsCA string
	metrics                            string
}

func newMonitorCmd(s streams) *cobra.Command {
	var o monitorOptions
	cmd := &cobra.Command{
		Use:   "monitor --model NAME --predictions TOPIC",
		Short: "Watch a served model's inputs drift and its accuracy from the prediction log",
		Long: `Consume the prediction log (flint serve --prediction-log) and, with --labeled, the
joined rows of flint predictions join, until interrupted, and measure the model:

  drift    every --window served rows of a version go through that version's fitted
           pipeline and are compared, feature by feature, with the profile of its
           training rows stored with the model: the population stability index of
           each feature (flint_monitor_psi), and the largest (flint_monitor_psi_max).
  quality  every --labeled-window labelled rows: accuracy (a classifier) or RMSE
           (a regression) of the version that predicted them (flint_monitor_accuracy,
           flint_monitor_rmse).

A reading whose largest PSI passes --threshold (0.1-0.25 is a moderate shift, above
0.25 a large one) is logged and, with --retrain JOB --driver URL, fires the
triggered job JOB on the driver (POST /v1/triggers/JOB/fire, with the cluster
secret as token), at most once per --cooldown of prediction time.

The metrics are served at --metrics-addr. Windows live in memory: a restarted
monitor reads on from its group's committed offsets with empty windows.`,
		Example: `  flint --log kafka:localhost:9092 monitor --model churn --predictions predictions --labeled churn-train \
      --retrain churn --driver http://driver:8070 --metrics-addr :9105`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMonitor(cmd, s, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "the model to watch (required)")
	f.StringVar(&o.predictions, "predictions", "", "the prediction log's topic (required)")
	f.StringVar(&o.labeled, "labeled", "", "the topic of joined rows (flint predictions join --out) to measure accuracy or RMSE on")
	f.StringVar(&o.group, "group", "", `consumer group (default "monitor." + --model)`)
	f.IntVar(&o.window, "window", 1000, "served rows per drift reading")
	f.IntVar(&o.labeledWindow, "labeled-window", 500, "labelled rows per quality reading")
	f.Float64Var(&o.threshold, "threshold", 0.25, "the largest feature PSI that counts as drift")
	f.DurationVar(&o.cooldown, "cooldown", 10*time.Minute, "least prediction time between two retraining firings")
	f.StringVar(&o.retrain, "retrain", "", "the triggered job to fire on the driver when the rows drift (needs --driver)")
	f.StringVar(&o.driver, "driver", "", "the driver's job API, http://HOST:PORT (its --http)")
	f.StringVar(&o.secretFile, "secret-file", "", "file holding the cluster secret the driver asks for (default $"+envClusterSecret+")")
	f.StringVar(&o.tlsCA, "tls-ca", "", "CA certificate the driver's HTTPS certificate must chain to")
	f.StringVar(&o.metrics, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (off when empty)")
	_ = cmd.MarkFlagRequired("model")
	_ = cmd.MarkFlagRequired("predictions")
	return cmd
}

func runMonitor(cmd *cobra.Command, s streams, o monitorOptions) error {
	if (o.retrain == "") != (o.driver == "") {
		return errors.New("--retrain and --driver go together: the triggered job to fire, and the driver that runs it")
	}
	for _, f := range []struct {
		name string
		ok   bool
		v    any
	}{{"--window", o.window > 0, o.window}, {"--labeled-window", o.labeledWindow > 0, o.labeledWindow},
		{"--threshold", o.threshold > 0, o.threshold}, {"--cooldown", o.cooldown > 0, o.cooldown}} {
		if !f.ok {
			return fmt.Errorf("%s %v: want a positive value", f.name, f.v)
		}
	}
	ctx := cmd.Context()
	logger := slog.New(slog.NewTextHandler(s.err, nil))
	cfg := monitor.Config{Model: o.model, Predictions: o.predictions, Labeled: o.labeled, Group: o.group,
		Window: o.window, LabeledWindow: o.labeledWindow, Threshold: o.threshold, Cooldown: o.cooldown, Logger: logger}
	if o.retrain != "" {
		token, err := readSecret(o.secretFile)
		if err != nil {
			return err
		}
		c, err := driverClient(o.driver, token, o.tlsCA)
		if err != nil {
			return err
		}
		cfg.OnDrift = func(ctx context.Context, r monitor.Reading) error {
			why := fmt.Sprintf("drift: PSI %.3g on %s over %d served rows of %s version %d (threshold %g)",
				r.Max, r.Feature, r.Rows, r.Model, r.Version, o.threshold)
			if err := c.Fire(ctx, o.retrain, why); err != nil {
				return err
			}
			logger.Info("monitor: fired the retraining job", "job", o.retrain, "driver", c.URL(), "why", why)
			return nil
		}
	}
	logSpec, _ := cmd.Flags().GetString("log")
	group := o.group
	if group == "" {
		group = "monitor." + o.model
	}
	l, err := openLog(ctx, logSpec)
	if err != nil {
		return groupNeedsWriter(err, group)
	}
	defer l.Close()
	storeSpec, _ := cmd.Flags().GetString("store")
	reg, err := openRegistry(ctx, storeSpec)
	if err != nil {
		return err
	}
	cfg.Log, cfg.Registry = l, reg
	m, err := monitor.New(cfg)
	if err != nil {
		return err
	}
	if o.metrics != "" {
		stop, err := serveMetrics("--metrics-addr", o.metrics, m.Metrics().Collectors(), logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(s.err, "flint monitor: model %s from %s (group %s, %d rows a reading, threshold %g)\n", o.model, o.predictions, group, o.window, o.threshold)
	return m.Run(ctx)
}
