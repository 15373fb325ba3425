package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

func newLogCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Create, inspect, write and read topics of the partitioned log",
		Long: `Work with the partitioned log that Flint's jobs read their features from.

The embedded log (--log dir:PATH) is the default; --log kafka:HOST:PORT,...
runs the same commands against a Kafka cluster.

One process at a time writes the embedded log (produce, create, ingest, a
driver): it holds the log's lock. The reading commands (topics, describe,
consume without --group, groups) open it read-only and work beside that
process; they fail, rather than print an empty log, when the directory is
missing or empty. consume --group needs the log to itself (groups are
coordinated in the writing process): to share a log between processes, use
Kafka.

verify checks every batch of the embedded log and reports damage per
partition with its file and byte offset; a damaged partition refuses every
operation while the others work, until repair --yes truncates it at the
damage.`,
	}
	cmd.AddCommand(newLogTopicsCmd(s), newLogCreateCmd(s), newLogDescribeCmd(s),
		newLogProduceCmd(s), newLogConsumeCmd(s), newLogGroupsCmd(s),
		newLogVerifyCmd(s), newLogRepairCmd(s))
	return cmd
}

// withLog opens the log named by --log for writing, runs fn, and closes
// the log.
func withLog(cmd *cobra.Command, fn func(ctx context.Context, l log.Log) error) error {
	return withOpenLog(cmd, openLog, fn)
}

// withReadLog is withLog for commands that only read: the embedded log is
// opened read-only, beside any process writing it (see openLogForReading).
func withReadLog(cmd *cobra.Command, fn func(ctx context.Context, l log.Log) error) error {
	return withOpenLog(cmd, openLogForReading, fn)
}

func withOpenLog(cmd *cobra.Command, open func(context.Context, string) (log.Log, error), fn func(ctx context.Context, l log.Log) error) error {
	spec, _ := cmd.Flags().GetString("log")
	ctx := cmd.Context()
	l, err := open(ctx, spec)
	if err != nil {
		return damageHint(err)
	}
	err = fn(ctx, l)
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	return damageHint(err)
}

func newLogTopicsCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "topics",
		Short: "List topics with their partitions and record counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withReadLog(cmd, func(ctx context.Context, l log.Log) error {
				topics, err := l.Topics(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "TOPIC\tPARTITIONS\tRECORDS")
				for _, t := range topics {
					info, err := l.Describe(ctx, t)
					if ce := (*disk.CorruptionError)(nil); errors.As(err, &ce) {
						fmt.Fprintf(w, "%s\t?\tdamaged: %s at byte %d (see flint log verify)\n", t, ce.Segment, ce.Offset)
						continue
					}
					if err != nil {
						return err
					}
					var n int64
					for _, p := range info.Partitions {
						n += p.Latest - p.Earliest
					}
					fmt.Fprintf(w, "%s\t%d\t%d\n", t, len(info.Partitions), n)
				}
				return w.Flush()
			})
		},
	}
}

type createOptions struct {
	partitions     int
	retentionAge   time.Duration
	retentionBytes int64
	segmentBytes   int64
}

func newLogCreateCmd(s streams) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create TOPIC",
		Short: "Create a topic with a fixed number of partitions",
		Example: `  flint log create clicks --partitions 8 --retention-age 168h
  flint --log kafka:localhost:9092 log create clicks --partitions 8`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.partitions < 1 {
				return fmt.Errorf("--partitions must be at least 1, got %d", o.partitions)
			}
			if o.retentionAge < 0 || o.retentionBytes < 0 || o.segmentBytes < 0 {
				return errors.New("--retention-age, --retention-bytes and --segment-bytes must not be negative")
			}
			return withLog(cmd, func(ctx context.Context, l log.Log) error {
				err := l.CreateTopic(ctx, args[0], log.TopicConfig{
					Partitions: o.partitions, RetentionAge: o.retentionAge,
					RetentionBytes: o.retentionBytes, SegmentBytes: o.segmentBytes,
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(s.out, "created topic %s with %d partitions\n", args[0], o.partitions)
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&o.partitions, "partitions", "p", 4, "number of partitions (fixed for the topic's life)")
	cmd.Flags().DurationVar(&o.retentionAge, "retention-age", 0, "delete whole segments older than this (0 keeps forever)")
	cmd.Flags().Int64Var(&o.retentionBytes, "retention-bytes", 0, "bound on each partition's size in bytes (0 is unbounded)")
	cmd.Flags().Int64Var(&o.segmentBytes, "segment-bytes", 0, "segment size at which a partition rolls (0 is the backend default)")
	return cmd
}

func newLogDescribeCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Show a topic's configuration and the offsets and size in bytes of each partition",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withReadLog(cmd, func(ctx context.Context, l log.Log) error {
				info, err := l.Describe(ctx, args[0])
				if err != nil {
					return err
				}
				c := info.Config
				fmt.Fprintf(s.out, "topic %s: %d partitions, retention age %s, retention bytes %s, segment bytes %s\n",
					info.Name, len(info.Partitions), orNone(c.RetentionAge > 0, c.RetentionAge.String()),
					orNone(c.RetentionBytes > 0, strconv.FormatInt(c.RetentionBytes, 10)),
					orNone(c.SegmentBytes > 0, strconv.FormatInt(c.SegmentBytes, 10)))
				var sizes []int64 // bytes by partition, when the log tells
				if sz, ok := l.(log.Sizer); ok {
					if sizes, err = sz.PartitionSizes(ctx, args[0]); err != nil {
						return err
					}
				}
				w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PARTITION\tEARLIEST\tLATEST\tRECORDS\tBYTES")
				for _, p := range info.Partitions {
					size := "unknown"
					if p.ID < len(sizes) && sizes[p.ID] >= 0 {
						size = strconv.FormatInt(sizes[p.ID], 10)
					}
					fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\n", p.ID, p.Earliest, p.Latest, p.Latest-p.Earliest, size)
				}
				return w.Flush()
			})
		},
	}
}

func orNone(ok bool, s string) string {
	if ok {
		return s
	}
	return "none"
}

type consumeOptions struct {
	group     string
	from      string
	partition int
	follow    bool
	max       int
	format    string
}

func newLogConsumeCmd(s streams) *cobra.Command {
	o := consumeOptions{partition: -1}
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic",
		Long: `Print records of TOPIC, one per line.

Without --group it reads every partition (or --partition) from --from up to the
end, or on and on with --follow. With --group it joins that consumer group,
reads the partitions the group assigns it from the group's committed offsets
(or --from earliest|latest where none is committed), and commits what it has
printed: at-least-once delivery.

Formats: value (the value alone), kv (KEY<TAB>VALUE, what produce reads), full
(partition, offset, time, key and value) and json, one object per record:

  {"partition":0,"offset":7,"time":"...","key":"u1","value":"clicked",
   "headers":[{"key":"source","value":"app"},{"key":"sig","value":null,"base64":"3q2+/w=="}]}

A key or value that is not valid UTF-8 is key_base64 or value_base64 instead
(standard base64); a null key has no key field, a null value is "value":null,
and an empty one is "". Headers are a list in the record's order, duplicates
kept; a header value that is not valid UTF-8 is its base64 field, with
"value":null.`,
		Example: `  flint log consume events --from earliest --format full
  flint log consume events --group trainers --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.format {
			case "value", "kv", "full", "json":
			default:
				return fmt.Errorf("--format %q: want value, kv, full or json", o.format)
			}
			if o.max < 0 {
				return fmt.Errorf("--max must not be negative, got %d", o.max)
			}
			if o.group != "" {
				spec, _ := cmd.Flags().GetString("log")
				if _, err := existingLog(spec); err != nil {
					return err
				}
				err := withLog(cmd, func(ctx context.Context, l log.Log) error {
					return consumeGroup(ctx, l, args[0], s, o)
				})
				return groupNeedsWriter(err, o.group)
			}
			return withReadLog(cmd, func(ctx context.Context, l log.Log) error {
				return consumePartitions(ctx, l, args[0], s, o)
			})
		},
	}
	cmd.Flags().StringVarP(&o.group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
	cmd.Flags().StringVar(&o.from, "from", "earliest", "where to start: earliest, latest or an OFFSET")
	cmd.Flags().IntVarP(&o.partition, "partition", "p", -1, "read only this partition (without --group)")
	cmd.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep waiting for new records until interrupted")
	cmd.Flags().IntVarP(&o.max, "max", "n", 0, "stop after this many records (0: no limit)")
	cmd.Flags().StringVar(&o.format, "format", "value", "output format: value, kv, full or json")
	return cmd
}

// parseFrom parses --from into a start offset resolver.
func parseFrom(from string) (start log.StartAt, offset int64, explicit bool, err error) {
	switch from {
	case "earliest":
		return log.StartEarliest, 0, false, nil
	case "latest":
		return log.StartLatest, 0, false, nil
	}
	off, perr := strconv.ParseInt(from, 10, 64)
	if perr != nil || off < 0 {
		return 0, 0, false, fmt.Errorf("--from %q: want earliest, latest or a non-negative offset", from)
	}
	return 0, off, true, nil
}

func consumePartitions(ctx context.Context, l log.Log, topic string, s streams, o consumeOptions) error {
	start, offset, explicit, err := parseFrom(o.from)
	if err != nil {
		return err
	}
	info, err := l.Describe(ctx, topic)
	if err != nil {
		return err
	}
	parts := info.Partitions
	if o.partition >= 0 {
		if o.partition >= len(parts) {
			return fmt.Errorf("--partition %d: topic %s has partitions 0 to %d", o.partition, topic, len(parts)-1)
		}
		parts = parts[o.partition : o.partition+1]
	}
	pos := make([]int64, len(parts))
	for i, p := range parts {
		switch {
		case explicit:
			if offset < p.Earliest || offset > p.Latest {
				return fmt.Errorf("--from %d: partition %d holds offsets %d to %d", offset, p.ID, p.Earliest, p.Latest)
			}
			pos[i] = offset
		case start == log.StartLatest:
			pos[i] = p.Latest
		default:
			pos[i] = p.Earliest
		}
	}
	pr := newPrinter(s.out, o.format)
	printed := 0
	for {
		progressed := false
		for i, p := range parts {
			if !o.follow && pos[i] >= p.Latest {
				continue
			}
			wait := time.Duration(0)
			if o.follow {
				wait = 200 * time.Millisecond / time.Duration(len(parts))
			}
			recs, err := l.Read(ctx, topic, p.ID, pos[i], log.ReadOptions{Wait: wait})
			if err != nil {
				if ctx.Err() != nil {
					return pr.flush()
				}
				return err
			}
			for _, r := range recs {
				if !o.follow && r.Offset >= p.Latest {
					break
				}
				if err := pr.print(r); err != nil {
					return err
				}
				pos[i] = r.Offset + 1
				progressed = true
				if printed++; o.max > 0 && printed >= o.max {
					return pr.flush()
				}
			}
		}
		if err := pr.flush(); err != nil {
			return err
		}
		if !o.follow && !progressed {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func consumeGroup(ctx context.Context, l log.Log, topic string, s streams, o consumeOptions) error {
	start, _, explicit, err := parseFrom(o.from)
	if err != nil {
		return err
	}
	if explicit {
		return errors.New("--from OFFSET cannot be used with --group: a group resumes from its committed offsets (use earliest or latest)")
	}
	if o.partition >= 0 {
		return errors.New("--partition cannot be used with --group: the group assigns partitions")
	}
	if _, err := l.Describe(ctx, topic); err != nil {
		return err
	}
	c, err := l.JoinGroup(ctx, log.GroupConfig{Group: o.group, Topics: []string{topic}, StartAt: start})
	if err != nil {
		return err
	}
	defer c.Close()
	pr := newPrinter(s.out, o.format)
	printed := 0
	for {
		recs, err := c.Poll(ctx, log.ReadOptions{Wait: time.Second})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(recs) == 0 && !o.follow && len(c.Assignment()) > 0 {
			return nil // caught up
		}
		if o.max > 0 && printed+len(recs) > o.max {
			recs = recs[:o.max-printed]
		}
		for _, r := range recs {
			if err := pr.print(r); err != nil {
				return err
			}
		}
		if err := pr.flush(); err != nil {
			return err
		}
		// Commit only after the records were written out: at-least-once.
		if len(recs) > 0 {
			if err := c.Commit(ctx, recs...); err != nil {
				return err
			}
		}
		printed += len(recs)
		if o.max > 0 && printed >= o.max {
			return nil
		}
	}
}

type printer struct {
	w      *bufio.Writer
	format string
	enc    *json.Encoder
}

func newPrinter(w io.Writer, format string) *printer {
	bw := bufio.NewWriter(w)
	return &printer{w: bw, format: format, enc: json.NewEncoder(bw)}
}

// jsonRecord is a record as --format json prints it. Bytes that are valid
// UTF-8 are a string field (key, value); other bytes are the same field
// suffixed _base64, in standard base64. A null key has neither field; a
// null value is "value": null.
type jsonRecord struct {
	Partition   int          `json:"partition"`
	Offset      int64        `json:"offset"`
	Time        time.Time    `json:"time"`
	Key         *string      `json:"key,omitempty"`
	KeyBase64   []byte       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 []byte       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers,omitempty"`
}

// jsonHeader is one header, in the record's order, duplicates kept: value
// when it is valid UTF-8, base64 when not, "value": null when null.
type jsonHeader struct {
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Base64 []byte  `json:"base64,omitempty"`
}

// text splits b into the string field and the base64 field of the JSON
// formats: the first when b is valid UTF-8, the second when not, neither
// when b is nil.
func text(b []byte) (*string, []byte) {
	switch {
	case b == nil:
		return nil, nil
	case utf8.Valid(b):
		s := string(b)
		return &s, nil
	}
	return nil, b
}

func newJSONRecord(r log.Record) jsonRecord {
	jr := jsonRecord{Partition: r.Partition, Offset: r.Offset, Time: r.Time.UTC()}
	jr.Key, jr.KeyBase64 = text(r.Key)
	jr.Value, jr.ValueBase64 = text(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.Base64 = text(h.Value)
		jr.Headers = append(jr.Headers, jh)
	}
	return jr
}

func (p *printer) print(r log.Record) error {
	var err error
	switch p.format {
	case "value":
		_, err = fmt.Fprintf(p.w, "%s\n", r.Value)
	case "kv":
		_, err = fmt.Fprintf(p.w, "%s\t%s\n", r.Key, r.Value)
	case "full":
		_, err = fmt.Fprintf(p.w, "%d\t%d\t%s\t%s\t%s\n", r.Partition, r.Offset, r.Time.UTC().Format(time.RFC3339Nano), r.Key, r.Value)
	case "json":
		err = p.enc.Encode(newJSONRecord(r))
	}
	return err
}

func (p *printer) flush() error { return p.w.Flush() }

func newLogGroupsCmd(s streams) *cobra.Command {
	var topic string
	cmd := &cobra.Command{
		Use:   "groups [GROUP]",
		Short: "List consumer groups, or show one group's committed offsets and lag",
		Example: `  flint log groups
  flint log groups trainers --topic events`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withReadLog(cmd, func(ctx context.Context, l log.Log) error {
				if len(args) == 0 {
					groups, err := l.Groups(ctx)
					if err != nil {
						return err
					}
					for _, g := range groups {
						fmt.Fprintln(s.out, g)
					}
					return nil
				}
				if topic == "" {
					return errors.New("--topic is required to show a group's offsets")
				}
				info, err := l.Describe(ctx, topic)
				if err != nil {
					return err
				}
				committed, err := l.Committed(ctx, args[0], topic)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PARTITION\tCOMMITTED\tLATEST\tLAG")
				for _, p := range info.Partitions {
					c, ok := committed[p.ID]
					if !ok {
						fmt.Fprintf(w, "%d\t-\t%d\t%d\n", p.ID, p.Latest, p.Latest-p.Earliest)
						continue
					}
					fmt.Fprintf(w, "%d\t%d\t%d\t%d\n", p.ID, c, p.Latest, p.Latest-c)
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "topic whose committed offsets to show")
	return cmd
}
