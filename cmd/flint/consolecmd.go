package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/internal/console"
	"github.com/flintml/flint/log"
)

type consoleOptions struct {
	addr            string
	tokensFile      string
	servers         []string
	serverTokenFile string
	features        []string
	schemas         []string
}

func newConsoleCmd(s streams) *cobra.Command {
	var o consoleOptions
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Serve the web console over a model store, a log and flint serve processes, without a driver",
		Long: `Serve the web console (the one flint driver serves under /console/) at --addr,
over the model store (--store: models, versions, aliases, their history, promote),
the log (--log, opened read-only: topics, consumer lag, records) and, with
--servers, the /metrics of flint serve processes (request rate, latency, errors
per model version) and, with --features, feature definitions (their processors' lag,
their tables' freshness, a key's current values). Jobs and workers are a driver's: open its console for them.

--tokens-file holds the console's tokens, as flint serve's ("read TOKEN" may look,
"admin TOKEN" may also move aliases). Without it the console is open to anyone who
reaches --addr, and says so.`,
		Example: `  flint --store s3://minio:9000/models --log kafka:kafka:9092 console --addr :8090 --tokens-file tokens.txt --servers http://serve-0:8080,http://serve-1:8080`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runConsole(cmd, s, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8090", "address to listen on")
	f.StringVar(&o.tokensFile, "tokens-file", "", "the console's tokens, one per line: \"read TOKEN\" or \"admin TOKEN\"")
	f.StringSliceVar(&o.servers, "servers", nil, "base URLs of flint serve processes whose /metrics the serving page reads")
	f.StringVar(&o.serverTokenFile, "server-token-file", "", "file holding a read token of those servers, when they ask for one")
	f.StringSliceVar(&o.features, "features", nil, "feature definition files (YAML) whose processors' lag, tables' freshness and current values the features page shows")
	f.StringArrayVar(&o.schemas, "schema", nil, "TOPIC=FILE: the schema (or job spec) the record browser decodes TOPIC's records with; repeatable (without it, a topic's schema comes from --features)")
	return cmd
}

func runConsole(cmd *cobra.Command, s streams, o consoleOptions) error {
	ctx := cmd.Context()
	logger := slog.New(slog.NewTextHandler(s.err, nil))
	storeSpec, _ := cmd.Flags().GetString("store")
	reg, err := openRegistry(ctx, storeSpec)
	if err != nil {
		return err
	}
	defs, err := loadDefinitions(o.features)
	if err != nil {
		return err
	}
	schemas, err := loadConsoleSchemas(o.schemas, "--schema")
	if err != nil {
		return err
	}
	cfg := console.Config{Models: reg, Servers: o.servers, Features: defs, Schemas: schemas, Logger: logger}
	logSpec, _ := cmd.Flags().GetString("log")
	var l log.Log
	if l, err = openLogReadOnly(ctx, logSpec); err != nil {
		logger.Warn("flint console: no log pages", "log", logSpec, "err", err)
	} else {
		defer l.Close()
		cfg.Log = l
	}
	if cfg.Tokens, err = consoleTokens("", o.tokensFile, "--tokens-file"); err != nil {
		return err
	}
	if cfg.Tokens.Len() == 0 {
		logger.Warn("flint console: no --tokens-file: the console is open, and anyone who reaches it may move aliases")
	}
	if o.serverTokenFile != "" {
		b, err := os.ReadFile(o.serverTokenFile)
		if err != nil {
			return fmt.Errorf("--server-token-file: %w", err)
		}
		cfg.ServerToken = strings.TrimSpace(string(b))
	}
	con, err := console.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(con.Prefix()+"/", con)
	mux.Handle("/", http.RedirectHandler(con.Prefix()+"/", http.StatusSeeOther))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(func() { con.Close() })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(s.out, "console on http://%s%s/\n", ln.Addr(), con.Prefix())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served
	return err
}
