package main

import (
	"bufio"
	"context"
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
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/trainer"
)

type ingestOptions struct {
	topic    string
	schema   string
	key      string
	header   bool
	skipBad  bool
	batch    int
	files    []string
	acks     bool
	progress time.Duration
	encode   string // "": the lines as text; "f32" or "f64": binary records
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
printed), or is skipped and counted with --skip-bad.

With --acks, each acknowledged record is printed to standard output as
"TOPIC PARTITION OFFSET" as soon as its batch is acknowledged, and the final
count goes to standard error instead. When standard error is not a
terminal, a progress line goes there every --progress. SIGINT or SIGTERM
stops it at once, even while it waits for input, reporting what was
appended.

With --encode f32 or f64, each validated line is appended as a binary record
instead of its text: the label, then the schema's other fields (numeric or
vectors) as little-endian float32s or float64s, so that training reads the
numbers without parsing them. Jobs read such a topic with the same schema; f32
rounds every value but the label to the nearest float32 (a value beyond
float32's range is refused with its line and field). docs/job-spec.md has the
layout.`,
		Example: `  flint ingest --topic ratings --schema examples/ratings.yaml --key user ratings.csv
  zcat events.jsonl.gz | flint ingest --topic events --schema job.yaml
  flint ingest --topic fashion --schema examples/fashion-logreg.yaml --encode f32 fashion.csv`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			if o.topic == "" || o.schema == "" {
				return fmt.Errorf("--topic and --schema are required")
			}
			if o.progress <= 0 {
				return fmt.Errorf("--progress must be positive, got %v", o.progress)
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
	cmd.Flags().BoolVar(&o.acks, "acks", false, `print "TOPIC PARTITION OFFSET" to stdout for each acknowledged record`)
	cmd.Flags().StringVar(&o.encode, "encode", "", "append binary records of float32 (f32) or float64 (f64) values instead of the lines' text")
	cmd.Flags().DurationVar(&o.progress, "progress", 10*time.Second, "interval of the progress lines on stderr when it is not a terminal")
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
	var enc features.Encoding
	if o.encode != "" {
		if enc, err = features.ParseEncoding(o.encode); err != nil {
			return fmt.Errorf("--encode: %v", err)
		}
	}
	ctx := cmd.Context()
	logSpec, _ := cmd.Flags().GetString("log")
	l, err := openLog(ctx, logSpec)
	if err != nil {
		return err
	}
	defer l.Close()
	summary := s.out
	if o.acks {
		l = &ackLog{Log: l, w: bufio.NewWriter(s.out)}
		summary = s.err
	}
	bar := newRateBar(s.err, "appended", o.topic, o.progress)
	defer bar.stop()
	var total features.IngestReport
	inputs := o.files
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	for _, f := range inputs {
		var r io.Reader = newCtxReader(ctx, s.in)
		name := "stdin"
		if f != "-" {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			r, name = newCtxReader(ctx, fh), f
		}
		base := total.Appended
		rep, err := features.Ingest(ctx, l, r, features.IngestOptions{Schema: schema, Topic: o.topic, Key: o.key, Name: name,
			Header: o.header, SkipBad: o.skipBad, Batch: o.batch, Encode: enc, Progress: func(n int64) { bar.set(base + n) }})
		total.Lines += rep.Lines
		total.Appended += rep.Appended
		total.Skipped += rep.Skipped
		total.Examples = append(total.Examples, rep.Examples...)
		if err != nil {
			bar.stop()
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %d records were appended to %s", total.Appended, o.topic)
			}
			return err
		}
	}
	bar.stop()
	fmt.Fprintf(summary, "appended %d records to %s in %s", total.Appended, o.topic, bar.elapsed().Round(time.Millisecond))
	if total.Skipped > 0 {
		fmt.Fprintf(summary, "; skipped %d bad lines, e.g. %s", total.Skipped, total.Examples[0])
	}
	fmt.Fprintln(summary)
	return nil
}

// ackLog is a log whose Append prints "TOPIC PARTITION OFFSET" for each
// record it acknowledged, flushed at once: flint ingest --acks.
type ackLog struct {
	log.Log
	w *bufio.Writer
}

func (a *ackLog) Append(ctx context.Context, topic string, recs []log.Record) error {
	err := a.Log.Append(ctx, topic, recs)
	if err == nil {
		return writeAcks(a.w, recs)
	}
	// The records of the partitions that succeeded have their Topic set.
	var done []log.Record
	for _, r := range recs {
		if r.Topic != "" {
			done = append(done, r)
		}
	}
	if werr := writeAcks(a.w, done); werr != nil {
		return werr
	}
	return err
}

// ctxReader reads r in a goroutine, so that a Read blocked on input that
// does not come (an idle pipe) returns ctx's error once ctx is canceled.
type ctxReader struct {
	ctx    context.Context
	chunks chan []byte
	err    error // r's error, once chunks is closed
	left   []byte
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	c := &ctxReader{ctx: ctx, chunks: make(chan []byte)}
	go func() {
		defer close(c.chunks)
		for {
			buf := make([]byte, 64<<10)
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case c.chunks <- buf[:n]:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				c.err = err // read after chunks is closed
				return
			}
		}
	}()
	return c
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if len(c.left) == 0 {
		select {
		case b, ok := <-c.chunks:
			if !ok {
				if c.err == nil {
					return 0, c.ctx.Err()
				}
				return 0, c.err
			}
			c.left = b
		case <-c.ctx.Done():
			return 0, c.ctx.Err()
		}
	}
	n := copy(p, c.left)
	c.left = c.left[n:]
	return n, nil
}

// rateBar reports records acknowledged and records/s on w: redrawn in
// place every 200ms on a terminal, else as a line every interval in which
// the count changed, so that logs of long runs show progress.
type rateBar struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	what     string // e.g. "appended 10 records to t": verb and topic
	topic    string
	interval time.Duration
	start    time.Time
	n        int64
	done     chan struct{}
	stopped  bool
	wg       sync.WaitGroup
}

// newRateBar starts the progress report of records verb-ed (appended,
// produced) to topic.
func newRateBar(w io.Writer, verb, topic string, interval time.Duration) *rateBar {
	b := &rateBar{w: w, what: verb, topic: topic, interval: interval, start: time.Now(), done: make(chan struct{})}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.tty = true
		b.interval = 200 * time.Millisecond
	}
	b.wg.Add(1)
	go b.loop()
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
	t := time.NewTicker(b.interval)
	defer t.Stop()
	last := int64(0)
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.mu.Lock()
			n := b.n
			b.mu.Unlock()
			rate := float64(n) / time.Since(b.start).Seconds()
			switch {
			case b.tty:
				fmt.Fprintf(b.w, "\r\033[K  %d records  %.0f records/s", n, rate)
			case n != last:
				fmt.Fprintf(b.w, "%s %d records to %s so far (%.0f records/s)\n", b.what, n, b.topic, rate)
			}
			last = n
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
