package main

import (
	"io"
	"os"

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
	root.AddCommand(newLogCmd(s), newIngestCmd(s), newTrainCmd(s), newModelsCmd(s), newServeCmd(s), newWorkerCmd(s), newUpCmd(s), newDriverCmd(s))
	return root
}

func defaultLogSpec() string {
	if v := os.Getenv("FLINT_LOG"); v != "" {
		return v
	}
	return "dir:flint-data/log"
}
