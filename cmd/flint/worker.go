package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flintml/flint/cluster/remote"
	"github.com/flintml/flint/trainer"
)

// envClusterSecret holds the shared secret of a driver and its workers when
// no --secret-file is given.
const envClusterSecret = "FLINT_CLUSTER_SECRET"

type workerOptions struct {
	driver, listen, advertise, name, secretFile string
	parallelism                                 int
	memoryLimit                                 byteSize
	tls                                         tlsFlags
}

// byteSize is a flag holding a size with a unit: 512MiB, 4GiB, 1000000.
type byteSize struct{ n trainer.ByteSize }

func (b *byteSize) Set(s string) error { return b.n.UnmarshalText([]byte(s)) }
func (b *byteSize) String() string {
	if b.n == 0 {
		return "0"
	}
	return fmt.Sprint(int64(b.n))
}
func (b *byteSize) Type() string { return "size" }

// tlsFlags are the --tls-* flags of the driver and worker commands.
type tlsFlags struct{ cert, key, ca string }

func (t *tlsFlags) add(f *pflag.FlagSet) {
	f.StringVar(&t.cert, "tls-cert", "", "TLS certificate (PEM) to serve with; with --tls-key, encrypts driver–worker traffic")
	f.StringVar(&t.key, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&t.ca, "tls-ca", "", "CA certificates (PEM) the peers' certificates must chain to (default the system roots)")
}

// files returns the TLS configuration, nil when TLS is off.
func (t *tlsFlags) files() (*remote.TLSFiles, error) {
	if t.cert == "" && t.key == "" {
		if t.ca != "" {
			return nil, errors.New("--tls-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	if t.cert == "" || t.key == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	return &remote.TLSFiles{CertFile: t.cert, KeyFile: t.key, CAFile: t.ca}, nil
}

func newWorkerCmd(s streams) *cobra.Command {
	var o workerOptions
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker process that caches partitions and runs tasks for a driver",
		Long: `Run a worker for the driver at --driver: it registers, sends heartbeats, reads
the partitions the driver places on it straight from their source (the driver's
Kafka log, its embedded dir: log read-only on the same host, or byte ranges of
files every worker can read), caches them, and runs the driver's tasks on them. Workers dial the driver; the driver dials
each worker back at --listen (or --advertise, when that address is not the one
the driver can reach).

A worker reports its --memory-limit to the driver, which places partitions on
workers with room for them. A worker that loses its driver retries quietly and
registers again, dropping what it cached for the old driver; one started
before its driver waits for it.

A driver and its workers share a secret when --secret-file or $FLINT_CLUSTER_SECRET
gives one. SIGTERM or Ctrl-C stops the worker, which first tells the driver it
is leaving, so its partitions move to the other workers at once.`,
		Example: `  flint worker --driver 10.0.0.5:7077 --listen 0.0.0.0:7078 --advertise 10.0.0.6:7078`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, tlsFiles, err := clusterAuth(o.secretFile, o.tls)
			if err != nil {
				return err
			}
			err = remote.RunWorker(cmd.Context(), remote.WorkerConfig{
				Driver: o.driver, Listen: o.listen, Advertise: o.advertise, Name: o.name,
				Secret: secret, TLS: tlsFiles, Parallelism: o.parallelism, MemoryLimit: int64(o.memoryLimit.n),
				PaceGC: true, Logger: slog.New(slog.NewTextHandler(s.err, nil)),
			})
			if cmd.Context().Err() != nil && errors.Is(err, cmd.Context().Err()) {
				return nil // stopped by a signal
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.driver, "driver", "", "the driver's address, HOST:PORT (required)")
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "address this worker's service listens on")
	f.StringVar(&o.advertise, "advertise", "", "address the driver dials this worker at, when not the listener's")
	f.StringVar(&o.name, "name", "", "name in the driver's logs and errors (default host/pid)")
	f.StringVar(&o.secretFile, "secret-file", "", "file holding the shared secret (default $"+envClusterSecret+")")
	f.IntVar(&o.parallelism, "parallelism", 0, "partitions run at once (default one per core)")
	f.Var(&o.memoryLimit, "memory-limit", "bound on the bytes of cached partitions, e.g. 4GiB; partitions that do not fit go to other workers, and a job fails only when no worker has room (default none)")
	o.tls.add(f)
	cmd.MarkFlagRequired("driver")
	return cmd
}

// clusterAuth reads what protects the driver–worker channel: the shared
// secret (--secret-file, or the environment) and the TLS files.
func clusterAuth(secretFile string, t tlsFlags) (string, *remote.TLSFiles, error) {
	secret, err := readSecret(secretFile)
	if err != nil {
		return "", nil, err
	}
	tf, err := t.files()
	if err != nil {
		return "", nil, err
	}
	return secret, tf, nil
}

// readSecret returns the shared secret from a file (trimmed), or from the
// environment when file is "".
func readSecret(file string) (string, error) {
	if file == "" {
		return os.Getenv(envClusterSecret), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--secret-file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("--secret-file %s is empty", file)
	}
	return secret, nil
}
