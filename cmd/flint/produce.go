package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/log"
)

type produceOptions struct {
	batch    int
	noKey    bool
	acks     bool
	linger   time.Duration
	progress time.Duration
	headers  []string
}

func newLogProduceCmd(s streams) *cobra.Command {
	var o produceOptions
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Append lines from standard input as records",
		Long: `Append each line of standard input to TOPIC as one record.

A line "KEY<TAB>VALUE" becomes a keyed record (its partition is Kafka's
murmur2 partition of KEY); a line without a tab is an unkeyed value. An empty
KEY or VALUE is an empty key or value, not a missing one. --header K=V adds a
header to every record.

Lines are appended in batches of --batch, and a partial batch once no line
has come for --linger, so records read from a slow pipe are acknowledged
promptly. With --acks, each acknowledged record is printed to standard output
as "TOPIC PARTITION OFFSET", flushed as soon as its batch is acknowledged.
When standard error is not a terminal, a progress line goes there every
--progress. At the end the command prints how many records were
acknowledged.

SIGINT or SIGTERM stops it at once, even while it waits for input: the lines
already read are appended (for up to 5s), what was acknowledged is reported,
and it exits non-zero.`,
		Example: `  printf 'user1\tclicked\nuser2\tbought\n' | flint log produce events
  tail -f app.log | flint log produce logs --no-key --acks --header source=app`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.batch < 1 {
				return fmt.Errorf("--batch must be at least 1, got %d", o.batch)
			}
			if o.linger <= 0 || o.progress <= 0 {
				return errors.New("--linger and --progress must be positive")
			}
			hs, err := parseHeaders(o.headers)
			if err != nil {
				return err
			}
			return withLog(cmd, func(ctx context.Context, l log.Log) error {
				return produce(ctx, l, args[0], s, o, hs)
			})
		},
	}
	cmd.Flags().IntVar(&o.batch, "batch", 1000, "records per append")
	cmd.Flags().BoolVar(&o.noKey, "no-key", false, "treat whole lines as values, tabs included")
	cmd.Flags().BoolVar(&o.acks, "acks", false, `print "TOPIC PARTITION OFFSET" to stdout for each acknowledged record`)
	cmd.Flags().DurationVar(&o.linger, "linger", 100*time.Millisecond, "append a partial batch once no line has come for this long")
	cmd.Flags().DurationVar(&o.progress, "progress", 10*time.Second, "interval of the progress lines on stderr when it is not a terminal")
	cmd.Flags().StringArrayVar(&o.headers, "header", nil, "add header KEY=VALUE to every record (repeatable)")
	return cmd
}

// parseHeaders parses --header values, KEY=VALUE, in order.
func parseHeaders(vals []string) ([]log.Header, error) {
	var hs []log.Header
	for _, v := range vals {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("--header %q: want KEY=VALUE", v)
		}
		hs = append(hs, log.Header{Key: k, Value: []byte(val)})
	}
	return hs, nil
}

// chunk is what one read of standard input returned: bytes, or its end
// (err is io.EOF at the end of input).
type chunk struct {
	b   []byte
	err error
}

// readChunks sends what r returns, read by read, to the channel it
// returns, ending with a chunk whose err is set. Each chunk has its own
// buffer. It stops when done is closed.
func readChunks(r io.Reader, done <-chan struct{}) <-chan chunk {
	ch := make(chan chunk)
	go func() {
		for {
			buf := make([]byte, 64<<10)
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case ch <- chunk{b: buf[:n]}:
				case <-done:
					return
				}
			}
			if err != nil {
				select {
				case ch <- chunk{err: err}:
				case <-done:
				}
				return
			}
		}
	}()
	return ch
}

// maxLine bounds a line of standard input.
const maxLine = 16 << 20

// producer appends batches of records to a topic and reports each
// acknowledgement.
type producer struct {
	l       log.Log
	topic   string
	acks    *bufio.Writer // nil without --acks
	bar     *rateBar
	batch   []log.Record
	total   int
	line    int
	headers []log.Header
	partial []byte // the start of a line whose end has not been read
}

// flush appends the pending batch.
func (p *producer) flush(ctx context.Context) error {
	if len(p.batch) == 0 {
		return nil
	}
	first := p.line - len(p.batch) + 1
	err := p.l.Append(ctx, p.topic, p.batch)
	// A failed Append may have appended the records of some partitions
	// (their Topic is set): they count, and only the others are pending.
	done, rest := p.batch, p.batch[:0]
	if err != nil {
		done = nil
		for _, r := range p.batch {
			if r.Topic != "" {
				done = append(done, r)
			} else {
				rest = append(rest, r)
			}
		}
	}
	p.total += len(done)
	p.bar.set(int64(p.total))
	if werr := writeAcks(p.acks, done); werr != nil {
		return werr
	}
	p.batch = rest
	if err != nil {
		return fmt.Errorf("append lines %d-%d to %s: %w (%d records were acknowledged, %d of these lines among them)",
			first, p.line, p.topic, err, p.total, len(done))
	}
	return nil
}

// writeAcks prints "TOPIC PARTITION OFFSET" for each record to w, and
// flushes it; w nil prints nothing.
func writeAcks(w *bufio.Writer, recs []log.Record) error {
	if w == nil || len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		fmt.Fprintf(w, "%s %d %d\n", r.Topic, r.Partition, r.Offset)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write acknowledgements: %w", err)
	}
	return nil
}

func (p *producer) add(line []byte, noKey bool) {
	p.line++
	line = bytes.TrimSuffix(line, []byte("\r"))
	var r log.Record
	if k, v, ok := bytes.Cut(line, []byte("\t")); ok && !noKey {
		r.Key, r.Value = k, v
	} else {
		r.Value = line
	}
	if len(p.headers) > 0 {
		r.Headers = p.headers
	}
	p.batch = append(p.batch, r)
}

// lines adds the whole lines of b, after what p.partial holds, and keeps
// the rest for the next call; at the end of input (eof), the rest is a
// line too. It appends each batch that fills up.
func (p *producer) lines(ctx context.Context, b []byte, eof bool, o produceOptions) error {
	if len(p.partial) > 0 {
		b = append(p.partial, b...)
		p.partial = nil
	}
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		p.add(b[:i:i], o.noKey)
		b = b[i+1:]
		if len(p.batch) >= o.batch {
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
	}
	switch {
	case len(b) > maxLine:
		return fmt.Errorf("stdin line %d is longer than %d bytes (%d records before it were acknowledged)", p.line+1, maxLine, p.total)
	case eof && len(b) > 0:
		p.add(b, o.noKey)
	case len(b) > 0:
		p.partial = bytes.Clone(b)
	}
	return nil
}

// interrupted appends the lines read before ctx was canceled (a signal),
// for up to interruptFlushTimeout, and returns the error that reports what
// was acknowledged.
func (p *producer) interrupted(ctx context.Context) error {
	pending := len(p.batch)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), interruptFlushTimeout)
	err := p.flush(fctx)
	cancel()
	p.bar.stop()
	if err != nil {
		return fmt.Errorf("interrupted: %d records were acknowledged to %s; the %d lines read last were not: %v", p.total, p.topic, pending, err)
	}
	return fmt.Errorf("interrupted: %d records were acknowledged to %s", p.total, p.topic)
}

// failed is the error of a failed flush: an interruption if ctx was
// canceled meanwhile.
func (p *producer) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return p.interrupted(ctx)
	}
	return err
}

// interruptFlushTimeout bounds the append of the lines read before a signal.
const interruptFlushTimeout = 5 * time.Second

func produce(ctx context.Context, l log.Log, topic string, s streams, o produceOptions, headers []log.Header) error {
	done := make(chan struct{})
	defer close(done)
	chunks := readChunks(s.in, done)
	p := &producer{l: l, topic: topic, bar: newRateBar(s.err, "produced", topic, o.progress), headers: headers}
	defer p.bar.stop()
	if o.acks {
		p.acks = bufio.NewWriter(s.out)
	}
	linger := time.NewTimer(o.linger)
	linger.Stop()
	for {
		select {
		case <-ctx.Done():
			return p.interrupted(ctx)
		case <-linger.C:
			if err := p.flush(ctx); err != nil {
				return p.failed(ctx, err)
			}
		case c := <-chunks:
			eof := errors.Is(c.err, io.EOF)
			if c.err != nil && !eof {
				return fmt.Errorf("read stdin after line %d: %w (%d records before it were acknowledged)", p.line, c.err, p.total)
			}
			if err := p.lines(ctx, c.b, eof, o); err != nil {
				return p.failed(ctx, err)
			}
			if !eof {
				linger.Reset(o.linger)
				continue
			}
			if err := p.flush(ctx); err != nil {
				return p.failed(ctx, err)
			}
			p.bar.stop()
			fmt.Fprintf(s.err, "produced %d records to %s\n", p.total, topic)
			return nil
		}
	}
}
