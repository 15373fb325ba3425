package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/internal/atomicfile"
	"github.com/flintml/flint/log"
)

type backfillOptions struct {
	file, labels, key, time, out, toTopic string
}

func newFeaturesBackfillCmd(s streams) *cobra.Command {
	var o backfillOptions
	cmd := &cobra.Command{
		Use:   "backfill -f DEFS --labels TOPIC",
		Short: "Write a point-in-time training set: label records with the features as of their time",
		Long: `Join every record of the --labels topic with the definition's features as of its
time — the --time field, or the record's timestamp — by replaying the definition's
source topic, partition by partition, with the code flint features run and training
use: never an event after the record's time. The records come out as JSON lines,
each the label record with the features added as fields (null where an empty window
has no value), to --out (default standard output) or appended to --to-topic, keyed
as the labels were. This is the set a training job with a features: section trains
on, for inspection.

The labels topic must be keyed by the entity key with as many partitions as the
definition's topic; giving the definition's own topic labels every event with the
features just before it.`,
		Example: `  flint features backfill -f card_activity.yaml --labels chargebacks --time at --out train.jsonl
  flint features backfill -f card_activity.yaml --labels transactions --to-topic transactions.asof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.file == "" || o.labels == "" {
				return errors.New("--file (-f) and --labels are required: the feature definition, and the topic of the records to join")
			}
			if o.out != "" && o.toTopic != "" {
				return errors.New("give --out or --to-topic, not both")
			}
			return runBackfill(cmd, s, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "the feature definition (YAML)")
	f.StringVar(&o.labels, "labels", "", "the topic of the label records")
	f.StringVar(&o.key, "key", "", "the label records' entity key field (default: the definition's key)")
	f.StringVar(&o.time, "time", "", "the label records' timestamp field (default: each record's log timestamp)")
	f.StringVar(&o.out, "out", "", "the file to write the JSON lines to (default: standard output)")
	f.StringVar(&o.toTopic, "to-topic", "", "append the joined records to this topic instead")
	return cmd
}

func runBackfill(cmd *cobra.Command, s streams, o backfillOptions) error {
	ctx := cmd.Context()
	data, err := os.ReadFile(o.file)
	if err != nil {
		return err
	}
	def, err := stream.Parse(o.file, data)
	if err != nil {
		return err
	}
	e := stream.Enrichment{Definition: string(data), File: o.file, Key: o.key, Time: o.time}
	if e.Key == "" {
		e.Key = def.Source.Key
	}
	logSpec, _ := cmd.Flags().GetString("log")
	var l log.Log
	if o.toTopic != "" {
		l, err = openLog(ctx, logSpec)
	} else {
		l, err = openLogForReading(ctx, logSpec)
	}
	if err != nil {
		return err
	}
	defer l.Close()
	labels, err := cluster.PlanLog(ctx, l, o.labels, cluster.LogOptions{})
	if errors.Is(err, log.ErrUnknownTopic) {
		return fmt.Errorf("--labels %s: no such topic in the log %s (flint log topics lists them)", o.labels, logSpec)
	}
	if err != nil {
		return err
	}
	if err := joinTopicsExist(ctx, l, def, o.file, logSpec); err != nil {
		return err
	}
	sources, err := stream.PlanJoin(ctx, l, labels, e, def)
	if err != nil {
		return fmt.Errorf("features backfill: %w", err)
	}
	if o.toTopic != "" {
		return backfillToTopic(ctx, s, l, sources, o, e.Key, def.Name)
	}
	n, err := backfillToFile(ctx, s, l, sources, o.out)
	if err != nil {
		return fmt.Errorf("features backfill: %w", err)
	}
	fmt.Fprintf(s.err, "features backfill: %d records of %s joined with %s\n", n, o.labels, def.Name)
	return nil
}

// joinTopicsExist says which topic of the definition is not in the log,
// if one is not: its events' topic (for a repartitioned source the
// repartition topic, which its processor writes) or a table's.
func joinTopicsExist(ctx context.Context, l log.Log, def *stream.Definition, file, logSpec string) error {
	topics := []string{def.EventTopic()}
	for _, t := range def.Tables {
		topics = append(topics, t.Topic)
	}
	for i, topic := range topics {
		_, err := l.Describe(ctx, topic)
		if !errors.Is(err, log.ErrUnknownTopic) {
			continue
		}
		hint := "flint log topics lists them"
		if i == 0 && def.Source.Repartition {
			hint = "the definition's processor writes it: run flint features run -f " + file + " first"
		}
		return fmt.Errorf("%s: definition %s reads topic %s, which is not in the log %s (%s)", file, def.Name, topic, logSpec, hint)
	}
	return nil
}

// backfillToFile writes the joined records as JSON lines to path, or to
// standard output when path is "". A file is written whole or not at all
// (atomicfile: a failed run leaves an older file in place and no partial
// one beside it).
func backfillToFile(ctx context.Context, s streams, l log.Log, sources []cluster.Source, path string) (int, error) {
	write := func(w io.Writer) (int, error) {
		bw := bufio.NewWriterSize(w, 1<<20)
		n := 0
		err := joinInOrder(ctx, l, sources, func(v []byte) error {
			bw.Write(v)
			n++
			return bw.WriteByte('\n')
		})
		if err == nil {
			err = bw.Flush()
		}
		return n, err
	}
	if path == "" {
		return write(s.out)
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return 0, fmt.Errorf("--out %s: %w", path, err)
	}
	n, err := write(f)
	if err != nil {
		f.Abort()
		return 0, err
	}
	if err := f.Commit(); err != nil {
		return 0, fmt.Errorf("--out %s: %w", path, err)
	}
	return n, nil
}

// backfillToTopic appends the joined records to o.toTopic, created with as
// many partitions as the labels' topic and keyed as the labels are (by
// key, the entity key field), so each lands in its label's partition; the
// records go in batches of backfillBatch as they are joined.
func backfillToTopic(ctx context.Context, s streams, l log.Log, sources []cluster.Source, o backfillOptions, key, defName string) error {
	info, err := l.Describe(ctx, o.labels)
	if err != nil {
		return err
	}
	if err := l.CreateTopic(ctx, o.toTopic, log.TopicConfig{Partitions: len(info.Partitions)}); err != nil && !errors.Is(err, log.ErrTopicExists) {
		return fmt.Errorf("features backfill: create %s: %w", o.toTopic, err)
	}
	keyOf := features.Schema{Format: "json", IgnoreUnknown: true, Fields: []features.Field{{Name: key, Type: features.Categorical, Optional: true}}}
	row := keyOf.NewRow()
	var batch []log.Record
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := l.Append(ctx, o.toTopic, batch); err != nil {
			for _, r := range batch { // Append sets Topic on the records it appended
				if r.Topic != "" {
					n++
				}
			}
			return fmt.Errorf("append to %s: %w", o.toTopic, err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err = joinInOrder(ctx, l, sources, func(v []byte) error {
		r := log.Record{Value: v}
		if keyOf.Decode(row, v) == nil && !row[0].Missing {
			r.Key = []byte(row[0].Str) // keyed as the label, so it lands in its partition
		}
		if batch = append(batch, r); len(batch) >= backfillBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		// What was appended stays: say how much, so a rerun into a new
		// topic (or a reader of this one) knows.
		return fmt.Errorf("features backfill: %w (%d joined records were appended to %s before it)", err, n, o.toTopic)
	}
	fmt.Fprintf(s.err, "features backfill: %d records of %s joined with %s, appended to %s\n", n, o.labels, defName, o.toTopic)
	return nil
}

// backfillBatch is the records a backfill appends to its topic at once;
// a partition joined ahead of the one being written holds at most
// backfillAhead chunks of about backfillChunk bytes of values (32 MiB),
// then waits.
const (
	backfillBatch = 4096
	backfillChunk = 1 << 20
	backfillAhead = 32
)

// joinInOrder joins sources, up to GOMAXPROCS at once, and hands every
// joined value to emit in the sources' order, partition after partition,
// as they come: a partition joined ahead of the one being written holds at
// most backfillAhead·backfillChunk bytes of values and then waits, so what is held
// stays bounded by the parallelism, not by the size of the labels' topic.
// The joins start in the sources' order, so the one being written always
// runs; values travel in chunks, so the hand-over costs little per value.
// emit owns each value (a copy of the read's); an error from it or from a
// join stops them all and is returned.
func joinInOrder(ctx context.Context, l log.Log, sources []cluster.Source, emit func(v []byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make([]chan [][]byte, len(sources))
	errs := make([]error, len(sources))
	for i := range chunks {
		chunks[i] = make(chan [][]byte, backfillAhead)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for i, src := range sources {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for j := i; j < len(chunks); j++ {
					errs[j] = ctx.Err() // never joined: the writer must not end as if they were empty
					close(chunks[j])
				}
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				defer close(chunks[i])
				errs[i] = joinChunks(ctx, l, src, chunks[i])
			})
		}
	})
	for i, ch := range chunks {
		for chunk := range ch {
			for _, v := range chunk {
				if err := emit(v); err != nil {
					cancel()
					return err
				}
			}
		}
		if errs[i] != nil { // written before the channel's close
			cancel()
			return errs[i]
		}
	}
	return nil
}

// joinChunks joins src and sends its values to out, in chunks of about
// backfillChunk bytes.
func joinChunks(ctx context.Context, l log.Log, src cluster.Source, out chan<- [][]byte) error {
	send := func(chunk [][]byte) error {
		select {
		case out <- chunk:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var chunk [][]byte
	size := 0
	err := cluster.EachValue(ctx, l, src, func(v []byte, _ func() string) error {
		chunk = append(chunk, append([]byte(nil), v...))
		if size += len(v); size < backfillChunk {
			return nil
		}
		err := send(chunk)
		chunk, size = nil, 0
		return err
	})
	if err == nil && len(chunk) > 0 {
		err = send(chunk)
	}
	return err
}
