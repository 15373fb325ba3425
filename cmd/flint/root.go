package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// streams are the standard streams a command reads and writes, injected so
// tests can run commands in-process.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

func newRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	s := streams{in: in, out: out, err: errOut}
	root := &cobra.Command{
		Use:   "flint",
		Short: "Flint trains and serves machine-learning models on a partitioned log",
		Long: `Flint is a machine-learning training and serving cluster in one binary.

Features stream into a partitioned log (embedded on disk by default, or Kafka);
iterative algorithms train over cached in-memory partitions on all cores;
models are versioned in a store and served over HTTP.

Every command that touches the log takes --log:
  dir:PATH                 the embedded log in directory PATH (default dir:flint-data/log,
                           or $FLINT_LOG when set)
  kafka:HOST:PORT[,...]    a Kafka cluster, given by its bootstrap brokers

and every command that touches models takes --store:
  dir:PATH                 a local directory (default dir:flint-data/models, or $FLINT_STORE)
  s3://HOST:PORT/BUCKET[/PREFIX]   S3-compatible storage (s3s:// for https); credentials
                           from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().String("log", defaultLogSpec(), "the log: dir:PATH, or kafka:HOST:PORT[,HOST:PORT...][?tls=true&ca=FILE&sasl=plain|scram-sha-256|scram-sha-512] (SASL credentials from $FLINT_KAFKA_USERNAME and $FLINT_KAFKA_PASSWORD)")
	root.PersistentFlags().String("store", defaultStoreSpec(), "the model store: dir:PATH or s3://HOST:PORT/BUCKET[/PREFIX]")
	root.AddCommand(newLogCmd(s), newIngestCmd(s), newTrainCmd(s), newModelsCmd(s), newServeCmd(s), newWorkerCmd(s), newUpCmd(s), newDriverCmd(s), newFeaturesCmd(s), newPredictCmd(s), newPredictionsCmd(s), newMonitorCmd(s), newConsoleCmd(s), newVersionCmd(s))
	root.AddCommand(newOnlineCmd(s))
	refuseUnknownSubcommands(root)
	return root
}

// refuseUnknownSubcommands makes every command that only groups others
// (flint log, flint models) fail on a word that names none of them, as the
// root does: cobra would print the help and exit 0, so a typo in a script
// would pass unnoticed. Without arguments they still print their help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if c.HasParent() && c.HasSubCommands() && !c.Runnable() {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			names := make([]string, 0, len(cmd.Commands()))
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			return fmt.Errorf("unknown command %q for %q (it takes %s; see %q)", args[0], cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath()+" --help")
		}
	}
}

func newVersionCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Flint's version and the Go toolchain and platform it was built with",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(s.out, "flint %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

func defaultLogSpec() string {
	if v := os.Getenv("FLINT_LOG"); v != "" {
		return v
	}
	return "dir:flint-data/log"
}
