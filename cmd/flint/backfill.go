package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/stream"
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
	sources, err := stream.PlanJoin(ctx, l, labels, e, def)
	if err != nil {
		return fmt.Errorf("features backfill: %w", err)
	}
	// The partitions are joined in parallel, and written in order.
	parts := make([][]log.Record, len(sources))
	errs := make([]error, len(sources))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = cluster.EachValue(ctx, l, src, func(v []byte, _ func() string) error {
				parts[i] = append(parts[i], log.Record{Value: append([]byte(nil), v...)})
				return nil
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("features backfill: %w", err)
	}
	n := 0
	if o.toTopic != "" {
		// The joined topic is keyed, and partitioned, as the labels are.
		info, err := l.Describe(ctx, o.labels)
		if err != nil {
			return err
		}
		if err := l.CreateTopic(ctx, o.toTopic, log.TopicConfig{Partitions: len(info.Partitions)}); err != nil && !errors.Is(err, log.ErrTopicExists) {
			return fmt.Errorf("features backfill: create %s: %w", o.toTopic, err)
		}
		keyOf := features.Schema{Format: "json", IgnoreUnknown: true, Fields: []features.Field{{Name: e.Key, Type: features.Categorical, Optional: true}}}
		row := keyOf.NewRow()
		for _, p := range parts {
			for i := range p {
				if keyOf.Decode(row, p[i].Value) == nil && !row[0].Missing {
					p[i].Key = []byte(row[0].Str) // keyed as the label, so it lands in its partition
				}
			}
			if len(p) > 0 {
				if err := l.Append(ctx, o.toTopic, p); err != nil {
					return fmt.Errorf("features backfill: append to %s: %w", o.toTopic, err)
				}
			}
			n += len(p)
		}
		fmt.Fprintf(s.err, "features backfill: %d records of %s joined with %s, appended to %s\n", n, o.labels, def.Name, o.toTopic)
		return nil
	}
	w := s.out
	if o.out != "" {
		fh, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer fh.Close()
		w = fh
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	for _, p := range parts {
		for _, r := range p {
			bw.Write(r.Value)
			bw.WriteByte('\n')
			n++
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(s.err, "features backfill: %d records of %s joined with %s\n", n, o.labels, def.Name)
	return nil
}
