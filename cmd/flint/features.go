package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/flintml/flint/features/httpingest"
	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/internal/logspec"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

func newFeaturesCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "features",
		Short: "Run, query and describe streaming feature definitions",
		Long: `A feature definition (YAML; see the features/stream package documentation) names
a source topic, its schema, a key and windowed aggregates. flint features run keeps
them current: it consumes the source in a consumer group, keeps every key's state
in a local store, and publishes a changelog and a feature table (both keyed by
entity key) to the log, exactly once across crashes.`,
	}
	cmd.AddCommand(newFeaturesRunCmd(s), newFeaturesGetCmd(s), newFeaturesDescribeCmd(s), newFeaturesBackfillCmd(s))
	return cmd
}

// loadDefinition reads and validates a feature definition file.
func loadDefinition(path string) (*stream.Definition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return stream.Parse(path, data)
}

// defaultStateDir is where a definition's store lives unless --state says.
func defaultStateDir(def *stream.Definition) string {
	return filepath.Join("flint-data", "features", def.Name)
}

func newFeaturesRunCmd(s streams) *cobra.Command {
	var file, state, group, metrics, httpAddr, tokenFile, emit string
	cmd := &cobra.Command{
		Use:   "run -f DEFS",
		Short: "Keep a definition's features current from its source topic",
		Long: `Consume the definition's source topic in a consumer group (default features.NAME),
apply every event to its key's state in the store in --state (default
flint-data/features/NAME), and publish every changed state to the changelog topic
features.NAME.changelog and every key's new values to the feature table
features.NAME.table (once per poll for each key it changed, --emit latest, as
Kafka Streams' caches forward a table; after every event with --emit every).
It runs until interrupted; killed at any moment and started
again, it ends with exactly the values of an uninterrupted run. Started without its
store (another machine), it restores the states from the changelog.

The source must be keyed by the definition's key field (flint ingest --key FIELD).
An embedded log (dir:) is opened with an fsync before every append is acknowledged,
so a machine crash loses nothing the store has counted as published; it has one
writer process, so flint ingest cannot append to it while the processor runs (a
kafka: log takes both at once): --http ADDR serves an ingest endpoint for services
instead, POST /v1/topics/SOURCE/records with {"records": [JSON objects]}, each
checked against the definition's fields and keyed by its key field, answered with
the partition and offset of each once the log has them on disk; it needs the
bearer token in --token-file (or $FLINT_INGEST_TOKEN) when one is given.`,
		Example: `  flint features run -f card_activity.yaml --metrics :9464
  flint features run -f card_activity.yaml --http 127.0.0.1:8090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("--file (-f) is required: the feature definition to run")
			}
			return runFeatures(cmd, s, featuresRun{file, state, group, metrics, httpAddr, tokenFile, emit})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the feature definition (YAML)")
	cmd.Flags().StringVar(&state, "state", "", "the state store's directory (default flint-data/features/NAME)")
	cmd.Flags().StringVar(&group, "group", "", "the consumer group (default features.NAME)")
	cmd.Flags().StringVar(&metrics, "metrics", "", "serve Prometheus metrics on this address (host:port) at /metrics")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve the HTTP ingest endpoint for the source topic on this address (host:port)")
	cmd.Flags().StringVar(&emit, "emit", "latest", "what the feature table gets: latest (each changed key's newest values, once per poll) or every (the values after every event)")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "a file holding the bearer token the ingest endpoint asks for (default $FLINT_INGEST_TOKEN; none: no token)")
	return cmd
}

// featuresRun is what flint features run was asked to do.
type featuresRun struct{ file, state, group, metrics, http, tokenFile, emit string }

func runFeatures(cmd *cobra.Command, s streams, o featuresRun) error {
	emit, err := stream.ParseEmit(o.emit)
	if err != nil {
		return fmt.Errorf("--emit %q is neither latest nor every", o.emit)
	}
	def, err := loadDefinition(o.file)
	if err != nil {
		return err
	}
	state, group, metricsAddr := o.state, o.group, o.metrics
	if state == "" {
		state = defaultStateDir(def)
	}
	ctx := cmd.Context()
	logSpec, _ := cmd.Flags().GetString("log")
	logger := slog.New(slog.NewTextHandler(s.err, nil))
	l, err := openSyncedLog(ctx, logSpec, logger)
	if err != nil {
		return err
	}
	defer l.Close()
	p, err := stream.NewProcessor(ctx, stream.ProcessorConfig{Log: l, Definition: def, Dir: state, Group: group, Logger: logger, Emit: emit})
	if err != nil {
		return err
	}
	defer p.Close()
	collectors := p.Metrics().Collectors()
	var rep *stream.Processor // the repartition stage of an unkeyed source
	if def.Source.Repartition {
		if rep, err = stream.NewProcessor(ctx, stream.ProcessorConfig{Log: l, Definition: def, Dir: state + ".repartition", Repartition: true, Logger: logger}); err != nil {
			return err
		}
		defer rep.Close()
		collectors = append(collectors, rep.Metrics().Collectors()...)
	}
	if o.http != "" {
		stop, cs, err := serveIngest(o, def, l, logger)
		if err != nil {
			return err
		}
		defer stop()
		collectors = append(collectors, cs...)
		fmt.Fprintf(s.err, "features %s: ingest endpoint http://%s/v1/topics/%s/records\n", def.Name, o.http, def.Source.Topic)
	}
	if metricsAddr != "" {
		stop, err := serveMetrics("--metrics", metricsAddr, collectors, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	if rep == nil {
		fmt.Fprintf(s.err, "features %s: consuming %s; state in %s\n", def.Name, def.Source.Topic, state)
		return p.Run(ctx)
	}
	fmt.Fprintf(s.err, "features %s: repartitioning %s by %s into %s; consuming that; state in %s\n",
		def.Name, def.Source.Topic, def.Source.Key, def.EventTopic(), state)
	// Both stages run until ctx ends or one of them fails, which stops the other.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	for _, proc := range []*stream.Processor{rep, p} {
		go func() {
			err := proc.Run(rctx)
			cancel()
			errc <- err
		}()
	}
	return errors.Join(<-errc, <-errc)
}

// serveIngest serves the HTTP ingest endpoint for the definition's source
// topic on o.http.
func serveIngest(o featuresRun, def *stream.Definition, l log.Log, logger *slog.Logger) (stop func(), cs []prometheus.Collector, err error) {
	token := os.Getenv("FLINT_INGEST_TOKEN")
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, nil, fmt.Errorf("--token-file %s holds no token", o.tokenFile)
		}
	}
	h, err := httpingest.New(httpingest.Config{Log: l, Logger: logger, Token: token,
		Topics: map[string]httpingest.Topic{def.Source.Topic: {Schema: def.SourceSchema(), Key: def.Source.Key}}})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", o.http)
	if err != nil {
		return nil, nil, fmt.Errorf("--http: %w", err)
	}
	// A slow or stalled client holds a connection only so long.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 40 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("features: ingest endpoint", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, h.Collectors(), nil
}

// openSyncedLog opens the log for the processor: the embedded log with an
// fsync before every append is acknowledged, since the processor's store
// (synced at every commit) counts what it appended as published, and a
// machine crash must not take back what the store has counted.
func openSyncedLog(ctx context.Context, spec string, logger *slog.Logger) (log.Log, error) {
	ls, err := logspec.Parse(spec)
	if err != nil {
		return nil, err
	}
	if ls.Backend != logspec.Dir {
		return ls.Open(ctx, logspec.Options{Logger: logger})
	}
	l, err := disk.Open(disk.Config{Dir: ls.Dir, Sync: disk.SyncEachAppend, Logger: logger})
	if err != nil {
		return nil, err // not a nil *disk.Log in a non-nil log.Log
	}
	return l, nil
}

// serveMetrics serves the collectors at /metrics until stop is called;
// flag names the flag addr came from, for the error.
func serveMetrics(flag, addr string, cs []prometheus.Collector, logger *slog.Logger) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(cs...)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { _ = srv.Close() }, nil
}

func newFeaturesGetCmd(s streams) *cobra.Command {
	var state, at string
	var table bool
	cmd := &cobra.Command{
		Use:   "get DEFS KEY",
		Short: "Print a key's feature values, from the local store or the feature table",
		Long: `Print KEY's feature values. By default they are read from the processor's store
(--state, default flint-data/features/NAME; stop the processor first, it holds the
store's lock) at the key's stream time, or at --at TIME when that is later (windows
then slide on: counts fall as buckets leave them). A time before the key's stream
time gives the values at the stream time: events applied after it cannot be taken
out; for values as of a past time use the offline AsOf.

With --table they are the key's newest record in the feature table, read from the
log beside a running processor.`,
		Example: `  flint features get card_activity.yaml card-42
  flint features get card_activity.yaml card-42 --at 2026-12-07T10:00:00Z
  flint features get card_activity.yaml card-42 --table`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			def, err := loadDefinition(args[0])
			if err != nil {
				return err
			}
			if table {
				if at != "" {
					return errors.New("--at needs the store: the feature table holds values at stream times only")
				}
				logSpec, _ := cmd.Flags().GetString("log")
				return getFromTable(cmd.Context(), s.out, logSpec, def, args[1])
			}
			return getFromStore(s.out, def, orDefault(state, defaultStateDir(def)), args[1], at)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "the state store's directory (default flint-data/features/NAME)")
	cmd.Flags().StringVar(&at, "at", "", "the time to read the values at: RFC 3339, or milliseconds since the Unix epoch")
	cmd.Flags().BoolVar(&table, "table", false, "read the newest value from the feature table in the log instead of the store")
	return cmd
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// parseTime reads an RFC 3339 time or milliseconds since the epoch.
func parseTime(v string) (int64, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("--at %q is neither an RFC 3339 time nor milliseconds since the Unix epoch", v)
	}
	return t.UnixMilli(), nil
}

func getFromStore(w io.Writer, def *stream.Definition, dir, key, at string) error {
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no state store for definition %q in %s (give its directory with --state, or read the log with --table): %w", def.Name, dir, err)
	}
	agg := stream.NewAggregator(def)
	store, err := stream.OpenStore(dir, agg)
	if errors.Is(err, stream.ErrStoreLocked) {
		return fmt.Errorf("%w; stop the processor, or read the feature table with --table", err)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	st, ok, err := store.Get(key)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("key %q has no state in %s: no event of it has been applied", key, dir)
	}
	t, _ := st.State.Time()
	when := t
	if at != "" {
		if when, err = parseTime(at); err != nil {
			return err
		}
		if when < t {
			fmt.Fprintf(w, "# --at is before the key's stream time: values at the stream time\n")
			when = t
		}
	}
	vals := make([]float64, len(def.Features))
	agg.Value(st.State, when, vals)
	applied, late, dropped := st.State.Counts()
	fmt.Fprintf(w, "key %s at %s (stream time %s; %d events applied, %d late, %d dropped)\n",
		key, fmtMillis(when), fmtMillis(t), applied, late, dropped)
	return printValues(w, def, vals)
}

func fmtMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

func printValues(w io.Writer, def *stream.Definition, vals []float64) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, name := range def.FeatureNames() {
		fmt.Fprintf(tw, "%s\t%s\n", name, strconv.FormatFloat(vals[i], 'g', -1, 64))
	}
	return tw.Flush()
}

// getFromTable prints the key's newest feature-table record: the table's
// partition for the key, read from the start.
func getFromTable(ctx context.Context, w io.Writer, logSpec string, def *stream.Definition, key string) error {
	l, err := openLogReadOnly(ctx, logSpec)
	if err != nil {
		return err
	}
	defer l.Close()
	topic := "features." + def.Name + ".table"
	v, _, ok, err := stream.LatestValue(ctx, l, topic, key)
	if err != nil {
		return fmt.Errorf("definition %q: %w", def.Name, err)
	}
	if !ok {
		return fmt.Errorf("key %q has no value in feature table %q", key, topic)
	}
	if len(v.Values) != len(def.Features) {
		return fmt.Errorf("key %q in feature table %q has %d values; definition %q has %d features", key, topic, len(v.Values), def.Name, len(def.Features))
	}
	fmt.Fprintf(w, "key %s at stream time %s (feature table %s)\n", key, fmtMillis(v.Time), topic)
	return printValues(w, def, v.Values)
}

func newFeaturesDescribeCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "describe DEFS",
		Short: "Print a feature definition as Flint reads it",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			def, err := loadDefinition(args[0])
			if err != nil {
				return err
			}
			return describeDefinition(s.out, def)
		},
	}
}

func describeDefinition(w io.Writer, def *stream.Definition) error {
	src := def.Source
	timeField := src.Time
	if timeField == "" {
		timeField = "(the record timestamp)"
	}
	fmt.Fprintf(w, "definition %s\n  source   %s, keyed by %s, event time %s, lateness %s\n", def.Name, src.Topic, src.Key, timeField, fmtDur(def.Lateness))
	fields := make([]string, len(src.Fields))
	for i, f := range src.Fields {
		fields[i] = f.Name + " " + f.Type.String()
	}
	fmt.Fprintf(w, "  fields   %s\n", strings.Join(fields, ", "))
	for _, d := range def.Derived {
		fmt.Fprintf(w, "  derived  %s = %s %s %s\n", d.Name, operand(d.Args[0]), map[stream.Op]string{stream.Add: "+", stream.Sub: "-", stream.Mul: "×", stream.Div: "/"}[d.Op], operand(d.Args[1]))
	}
	fmt.Fprintf(w, "  topics   table features.%[1]s.table, changelog features.%[1]s.changelog, group features.%[1]s (the defaults)\n", def.Name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nFEATURE\tAGGREGATE\tWINDOW\tFILTER")
	for _, f := range def.Features {
		agg := f.Aggregate.String()
		if f.Field != "" {
			agg += "(" + f.Field + ")"
		}
		if f.Aggregate == stream.DistinctCount {
			agg += fmt.Sprintf(" p=%d", f.Precision)
		}
		win := f.Window.Kind.String() + " " + fmtDur(f.Window.Size)
		switch f.Window.Kind {
		case stream.Sliding:
			win += " by " + fmtDur(f.Window.Step)
		case stream.Hopping:
			win += " every " + fmtDur(f.Window.Step)
		}
		var where []string
		for _, c := range f.Where {
			v := strconv.FormatFloat(c.Num, 'g', -1, 64)
			if _, isStr := def.StrIndex(c.Field); isStr {
				v = strconv.Quote(c.Str)
			}
			where = append(where, c.Field+" "+c.Cmp.String()+" "+v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, agg, win, strings.Join(where, " and "))
	}
	return tw.Flush()
}

func operand(o stream.Operand) string {
	if o.Field != "" {
		return o.Field
	}
	return strconv.FormatFloat(o.Const, 'g', -1, 64)
}

// fmtDur writes milliseconds as a Go duration, or whole days as Nd.
func fmtDur(ms int64) string {
	if ms != 0 && ms%(24*3600*1000) == 0 {
		return strconv.FormatInt(ms/(24*3600*1000), 10) + "d"
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// loadDefinitions parses feature definition files.
func loadDefinitions(files []string) ([]*stream.Definition, error) {
	var defs []*stream.Definition
	for _, f := range files {
		def, err := loadDefinition(f)
		if err != nil {
			return nil, err
		}
		defs = append(defs, def)
	}
	return defs, nil
}
