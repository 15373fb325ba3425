package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer/online"
)

type onlineOptions struct {
	file   string
	dryRun bool
}

func newOnlineCmd(s streams) *cobra.Command {
	var o onlineOptions
	cmd := &cobra.Command{
		Use:   "online -f SPEC.yaml",
		Short: "Train a streaming model on a topic as records arrive, publishing versions as it learns",
		Long: `Train a streaming algorithm (streaming_kmeans, streaming_linear, streaming_logistic:
Spark MLlib's streaming k-means and SGD regressions) on a log topic as records
arrive. The records are read in a consumer group, decoded with the spec's schema
and feature transforms (fitted once on the first fit_records records), and learnt
in mini-batches of batch_records. Every publish.every_records records or
publish.every, whichever comes first, the model is published as the next version
in the store (--store), with the offsets it was trained on; flint serve serves it
like a batch-trained k-means, linear or logistic model.

Offsets are committed only after the version holding them is published. Running
the command again resumes from the latest version and the group's offsets, and
never learns a record of a published version twice. Ctrl-C stops at once;
records since the last version are read again by the next run.

The spec is validated first; every problem is reported at once with its
file:line:column and field path. --dry-run stops there.`,
		Example: `  flint online -f examples/blobs-online.yaml
  flint online -f spec.yaml --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.file == "" {
				return fmt.Errorf("-f SPEC.yaml is required")
			}
			return runOnline(cmd, s, o)
		},
	}
	cmd.Flags().StringVarP(&o.file, "file", "f", "", "the online job spec (YAML)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "validate the spec and stop")
	return cmd
}

func runOnline(cmd *cobra.Command, s streams, o onlineOptions) error {
	data, err := os.ReadFile(o.file)
	if err != nil {
		return err
	}
	spec, err := online.ParseSpec(o.file, data)
	if err != nil {
		return err
	}
	if o.dryRun {
		fmt.Fprintf(s.out, "%s: %s on topic %s in group %s, published as model %s\n", o.file, spec.Algorithm, spec.Source.Topic, spec.GroupName(), spec.ModelName())
		return nil
	}
	ctx := cmd.Context()
	logSpec, _ := cmd.Flags().GetString("log")
	l, err := openLog(ctx, logSpec) // read-write: the group's offsets are committed to it
	if err != nil {
		return err
	}
	defer l.Close()
	storeSpec, _ := cmd.Flags().GetString("store")
	store, err := openStore(ctx, storeSpec)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(s.err, nil))
	logger.Info("online: starting", "spec", o.file, "algorithm", spec.Algorithm.String(), "topic", spec.Source.Topic,
		"group", spec.GroupName(), "model", spec.ModelName())
	return online.Run(ctx, spec, online.Options{Log: l, Registry: models.NewRegistry(store), SpecText: string(data),
		FlintVersion: version, Logger: logger})
}
