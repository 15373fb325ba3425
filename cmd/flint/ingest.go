package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/trainer"
)

type ingestOptions struct {
	topic   string
	schema  string
	key     string
	header  bool
	skipBad bool
	batch   int
	files   []string
}

func newIngestCmd(s streams) *cobra.Command {
	var o ingestOptions
	cmd := &cobra.Command{
		Use:   "ingest --topic TOPIC --schema SCHEMA [FILE...]",
		Short: "Validate CSV or JSON lines against a schema and append them to a topic",
		Long: `Read records, one per line, from FILEs (or standard input), validate every line
against the schema, and append them to TOPIC in batches, keyed by --key so that
records with the same key share a partition.

SCHEMA is a YAML file holding a schema (fields, format, label), or a job spec
whose schema: section is used. A line that does not fit stops the ingest with
its file, line and field (everything before it stays appended and the count is
printed), or is skipped and counted with --skip-bad.`,
		Example: `  flint ingest --topic ratings --schema examples/ratings.yaml --key user ratings.csv
  zcat events.jsonl.gz | flint ingest --topic events --schema job.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			if o.topic == "" || o.schema == "" {
				return fmt.Errorf("--topic and --schema are required")
			}
			return runIngest(cmd, s, o)
		},
	}
	cmd.Flags().StringVarP(&o.topic, "topic", "t", "", "topic to append to")
	cmd.Flags().StringVarP(&o.schema, "schema", "s", "", "YAML file with the schema (or a job spec)")
	cmd.Flags().StringVarP(&o.key, "key", "k", "", "field whose value keys each record")
	cmd.Flags().BoolVar(&o.header, "header", false, "skip the first line of each input (a CSV header)")
	cmd.Flags().BoolVar(&o.skipBad, "skip-bad", false, "skip and count lines that do not fit the schema")
	cmd.Flags().IntVar(&o.batch, "batch", 1000, "records per append")
	return cmd
}

// loadSchema reads a schema from a YAML file holding either a schema or a
// job spec.
func loadSchema(path string) (features.Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return features.Schema{}, err
	}
	var probe map[string]any
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return features.Schema{}, fmt.Errorf("%s: not valid YAML: %v", path, err)
	}
	if _, isSpec := probe["algorithm"]; isSpec {
		spec, err := trainer.ParseSpec(path, data)
		if err != nil {
			return features.Schema{}, err
		}
		return spec.Schema, nil
	}
	var s features.Schema
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return features.Schema{}, fmt.Errorf("%s: %v", path, err)
	}
	if err := s.Validate(); err != nil {
		return features.Schema{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func runIngest(cmd *cobra.Command, s streams, o ingestOptions) error {
	schema, err := loadSchema(o.schema)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	logSpec, _ := cmd.Flags().GetString("log")
	l, err := openLog(ctx, logSpec)
	if err != nil {
		return err
	}
	defer l.Close()
	bar := newRateBar(s.err)
	defer bar.stop()
	var total features.IngestReport
	inputs := o.files
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	for _, f := range inputs {
		var r io.Reader = s.in
		name := "stdin"
		if f != "-" {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			r, name = fh, f
		}
		base := total.Appended
		rep, err := features.Ingest(ctx, l, r, features.IngestOptions{Schema: schema, Topic: o.topic, Key: o.key, Name: name,
			Header: o.header, SkipBad: o.skipBad, Batch: o.batch, Progress: func(n int64) { bar.set(base + n) }})
		total.Lines += rep.Lines
		total.Appended += rep.Appended
		total.Skipped += rep.Skipped
		total.Examples = append(total.Examples, rep.Examples...)
		if err != nil {
			bar.stop()
			if ctx.Err() != nil {
				return fmt.Errorf("ingest cancelled: %d records were appended to %s", total.Appended, o.topic)
			}
			return err
		}
	}
	bar.stop()
	fmt.Fprintf(s.out, "appended %d records to %s in %s", total.Appended, o.topic, bar.elapsed().Round(time.Millisecond))
	if total.Skipped > 0 {
		fmt.Fprintf(s.out, "; skipped %d bad lines, e.g. %s", total.Skipped, total.Examples[0])
	}
	fmt.Fprintln(s.out)
	return nil
}

// rateBar shows records appended and records/s, redrawn on a terminal.
type rateBar struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	start   time.Time
	n       int64
	done    chan struct{}
	stopped bool
	wg      sync.WaitGroup
}

func newRateBar(w io.Writer) *rateBar {
	b := &rateBar{w: w, start: time.Now(), done: make(chan struct{})}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.tty = true
		b.wg.Add(1)
		go b.loop()
	}
	return b
}

func (b *rateBar) set(n int64) {
	b.mu.Lock()
	b.n = n
	b.mu.Unlock()
}

func (b *rateBar) elapsed() time.Duration { return time.Since(b.start) }

func (b *rateBar) loop() {
	defer b.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.mu.Lock()
			n := b.n
			b.mu.Unlock()
			rate := float64(n) / time.Since(b.start).Seconds()
			fmt.Fprintf(b.w, "\r\033[K  %d records  %.0f records/s", n, rate)
		}
	}
}

func (b *rateBar) stop() {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.stopped = true
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
	if b.tty {
		fmt.Fprint(b.w, "\r\033[K")
	}
}
