package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/atomicfile"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/serving/batch"
)

type predictOptions struct {
	model, topic, out, toTopic string
	files                      []string
	header, skipBad            bool
	partitions                 int
	cluster                    trainOptions // --listen, --workers, --wait, --secret-file, TLS
}

func newPredictCmd(s streams) *cobra.Command {
	var o predictOptions
	cmd := &cobra.Command{
		Use:   "predict --model MODEL[:VERSION|@ALIAS] (--topic TOPIC | --files FILE...)",
		Short: "Score a topic or files with a published model, partitions in parallel",
		Long: `Score every record of a topic (all of it, as it is now) or of files with a published
model: each record goes through the model's fitted pipeline and the model as the
server scores a row, on all cores (or, with --listen, on worker processes, each
reading its own partitions). One JSON line per record, in source order, naming the
record's position: {"source":"clicks/2@117","class":"yes","index":1,"probabilities":[…]}.

The lines go to standard output, to --out FILE (with FILE.lineage.json: the model,
its version and the offset or byte ranges scored), or are appended to --to-topic
with the model and version in their headers.`,
		Example: `  flint predict --model houses@production --topic houses --out predictions.jsonl
  flint predict --model fraud:3 --files payments.jsonl --skip-bad
  flint predict --model houses --topic houses --listen :7077 --workers 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPredict(cmd, s, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "the model: NAME (latest version), NAME:VERSION or NAME@ALIAS")
	f.StringVar(&o.topic, "topic", "", "score the records of this topic")
	f.StringSliceVar(&o.files, "files", nil, "score the lines of these files instead (JSON or CSV, as the model's schema says)")
	f.BoolVar(&o.header, "header", false, "with --files: skip the first line of each (a CSV header)")
	f.IntVar(&o.partitions, "partitions", 0, "with --files: partitions to cut them into (default one per 8 MiB of input, at least one per worker)")
	f.StringVar(&o.out, "out", "", "write the predictions to this file, with FILE.lineage.json beside it")
	f.StringVar(&o.toTopic, "to-topic", "", "append the predictions to this topic instead")
	f.BoolVar(&o.skipBad, "skip-bad", false, "skip records that do not fit the model's schema (counted) instead of stopping at the first")
	f.StringVar(&o.cluster.listen, "listen", "", "score on worker processes that register at this address (this process is their driver)")
	f.IntVar(&o.cluster.workers, "workers", 1, "with --listen: worker processes to wait for")
	f.DurationVar(&o.cluster.wait, "wait", 2*time.Minute, "with --listen: how long to wait for --workers to register")
	f.StringVar(&o.cluster.secretFile, "secret-file", "", "with --listen: the cluster secret the workers present")
	return cmd
}

func runPredict(cmd *cobra.Command, s streams, o predictOptions) error {
	switch {
	case o.model == "":
		return errors.New("--model is required: the model to score with (NAME, NAME:VERSION or NAME@ALIAS)")
	case (o.topic == "") == (len(o.files) == 0):
		return errors.New("give --topic or --files: what to score")
	case o.out != "" && o.toTopic != "":
		return errors.New("give --out or --to-topic, not both")
	}
	ctx := cmd.Context()
	storeSpec, _ := cmd.Flags().GetString("store")
	reg, err := openRegistry(ctx, storeSpec)
	if err != nil {
		return err
	}
	art, info, err := getRef(ctx, reg, o.model)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("--model %s: not in the store %s (flint models ls lists the models, flint models show NAME their versions and aliases)", o.model, storeSpec)
	}
	if err != nil {
		return err
	}
	logSpec, _ := cmd.Flags().GetString("log")
	var l log.Log
	if o.topic != "" || o.toTopic != "" {
		if o.toTopic != "" {
			l, err = openLog(ctx, logSpec)
		} else {
			l, err = openLogForReading(ctx, logSpec)
		}
		if err != nil {
			return err
		}
		defer l.Close()
	}
	logger := slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var x interface {
		cluster.Scanner
		Workers() int
	}
	if o.cluster.listen != "" {
		d, err := listenForWorkers(cmd, s, o.cluster, logger)
		if err != nil {
			return err
		}
		defer d.Close()
		x = d
	} else {
		e := cluster.NewEngine(cluster.Config{Logger: logger})
		defer e.Close()
		x = e
	}
	var sources []cluster.Source
	if o.topic != "" {
		sources, err = cluster.PlanLog(ctx, l, o.topic, cluster.LogOptions{})
		if errors.Is(err, log.ErrUnknownTopic) {
			return fmt.Errorf("--topic %s: no such topic in the log %s (flint log topics lists them)", o.topic, logSpec)
		}
		sources = batch.SplitLog(sources, predictSourceRecords)
	} else {
		parts := o.partitions
		if parts == 0 {
			parts = max(x.Workers(), filePartitions(o.files))
		}
		sources, err = cluster.PlanFiles(o.files, cluster.FileOptions{Format: cluster.Format{Header: o.header}, Partitions: parts})
	}
	if err != nil {
		return err
	}
	name, _, _ := strings.Cut(o.model, "@")
	name, _, _ = strings.Cut(name, ":")
	out, err := newPredictionSink(ctx, s, o, l, name, info.Version)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := batch.PredictTo(ctx, x, l, art, sources, batch.Options{SkipBad: o.skipBad, Wave: 2 * x.Workers()}, out.write)
	if err == nil {
		err = out.finish(res, sources)
	}
	if err != nil {
		out.abandon()
		return err
	}
	ref := art.Algorithm + " model " + name + " version " + strconv.Itoa(info.Version)
	fmt.Fprintf(s.err, "scored %d records with %s in %s", res.Rows, ref, time.Since(start).Round(time.Millisecond))
	if res.Skipped > 0 {
		fmt.Fprintf(s.err, "; %d records that do not fit its schema skipped", res.Skipped)
	}
	fmt.Fprintln(s.err)
	return nil
}

// predictSourceRecords bounds the offsets of one scored log source, and
// predictFileBytes the bytes of one file source, so that the lines held
// at once (a wave of two sources per worker) stay bounded however big the
// topic or the files are.
const (
	predictSourceRecords = 128 << 10
	predictFileBytes     = 8 << 20
)

// filePartitions is how many sources of at most predictFileBytes the
// files make (0 when they cannot be read: planning says why).
func filePartitions(paths []string) int {
	var total int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return int((total + predictFileBytes - 1) / predictFileBytes)
}

// predictionSink is where flint predict's lines go as they are made: a
// topic, standard output, or --out's file (written whole or not at all:
// atomicfile, so a failed run leaves no partial file behind).
type predictionSink struct {
	ctx     context.Context
	s       streams
	o       predictOptions
	l       log.Log
	name    string
	version int
	hdr     []log.Header
	file    *atomicfile.File
	bw      *bufio.Writer
}

func newPredictionSink(ctx context.Context, s streams, o predictOptions, l log.Log, name string, version int) (*predictionSink, error) {
	p := &predictionSink{ctx: ctx, s: s, o: o, l: l, name: name, version: version}
	switch {
	case o.toTopic != "":
		p.hdr = []log.Header{{Key: "flint-model", Value: []byte(name)}, {Key: "flint-model-version", Value: []byte(strconv.Itoa(version))}}
	case o.out != "":
		f, err := atomicfile.Create(o.out)
		if err != nil {
			return nil, fmt.Errorf("--out %s: %w", o.out, err)
		}
		p.file, p.bw = f, bufio.NewWriterSize(f, 1<<20)
	}
	return p, nil
}

// write takes one chunk of whole lines.
func (p *predictionSink) write(lines []byte) error {
	switch {
	case p.o.toTopic != "":
		var recs []log.Record
		for line := range bytes.Lines(lines) {
			recs = append(recs, log.Record{Value: bytes.TrimSuffix(line, []byte("\n")), Headers: p.hdr})
		}
		if len(recs) == 0 {
			return nil
		}
		return p.l.Append(p.ctx, p.o.toTopic, recs)
	case p.file != nil:
		_, err := p.bw.Write(lines)
		return err
	}
	_, err := p.s.out.Write(lines)
	return err
}

// finish completes --out's file and writes its lineage.
func (p *predictionSink) finish(res *batch.Result, sources []cluster.Source) error {
	if p.file == nil {
		return nil
	}
	if err := p.bw.Flush(); err != nil {
		return fmt.Errorf("--out %s: %w", p.o.out, err) // abandon removes the file
	}
	f := p.file
	p.file = nil
	if err := f.Commit(); err != nil {
		return fmt.Errorf("--out %s: %w", p.o.out, err)
	}
	lin := lineage{Model: p.name, Version: p.version, Rows: res.Rows, Skipped: res.Skipped, Created: time.Now().UTC()}
	for _, src := range sources {
		ls := lineageSource{File: src.Path, From: src.From, To: src.To}
		if src.Kind == "log" {
			part := src.LogPartition
			ls.Topic, ls.Partition = src.Topic, &part
		}
		lin.Sources = append(lin.Sources, ls)
	}
	b, err := json.MarshalIndent(lin, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(p.o.out+".lineage.json", append(b, '\n'), 0o644)
}

// abandon removes --out's partial file after a failure.
func (p *predictionSink) abandon() {
	if p.file != nil {
		p.file.Abort()
	}
}

// lineage is FILE.lineage.json: what a prediction file was made from.
type lineage struct {
	Model   string          `json:"model"`
	Version int             `json:"version"`
	Sources []lineageSource `json:"sources"`
	Rows    int             `json:"rows"`
	Skipped int             `json:"skipped"`
	Created time.Time       `json:"created"`
}

// lineageSource is one range scored: offsets [from, to) of a topic's
// partition, or bytes [from, to) of a file (to -1: to its end).
type lineageSource struct {
	Topic     string `json:"topic,omitempty"`
	Partition *int   `json:"partition,omitempty"`
	File      string `json:"file,omitempty"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
}
