package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/log"
)

const featuresDefs = `name: cards
source:
  topic: tx
  key: card
  time: at
  fields: {card: string, at: timestamp, amount: number, merchant: string}
lateness: 1m
features:
  - {name: tx_10m, aggregate: count, window: {sliding: 10m, resolution: 1m}}
  - {name: spend_1h, aggregate: sum, field: amount, window: {tumbling: 1h}, where: [{field: merchant, op: "!=", value: refund}]}
  - {name: last_amount, aggregate: last, field: amount, window: {sliding: 30m, resolution: 5m}}
`

const featuresSchema = `format: json
fields:
  - {name: card, type: categorical}
  - {name: at, type: timestamp}
  - {name: amount, type: numeric}
  - {name: merchant, type: categorical}
`

// featuresFixture ingests events for cards c0 … c4 and returns the
// directory, the definition file and the log spec.
func featuresFixture(t *testing.T) (dir, defs, logSpec string) {
	t.Helper()
	dir = t.TempDir()
	defs = filepath.Join(dir, "cards.yaml")
	schema := filepath.Join(dir, "schema.yaml")
	events := filepath.Join(dir, "events.jsonl")
	var b strings.Builder
	base := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for i := range 300 {
		at := base.Add(time.Duration(i) * 13 * time.Second)
		fmt.Fprintf(&b, `{"card":"c%d","at":%q,"amount":%d,"merchant":"m%d"}`+"\n", i%5, at.Format(time.RFC3339), i%17, i%3)
	}
	for name, data := range map[string]string{defs: featuresDefs, schema: featuresSchema, events: b.String()} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logSpec = "dir:" + filepath.Join(dir, "log")
	mustRun(t, "", "--log", logSpec, "ingest", "--topic", "tx", "--schema", schema, "--key", "card", events)
	return dir, defs, logSpec
}

// featuresOffline computes every key's final state from the source topic
// with the stream package, and how many feature-table records a run makes.
func featuresOffline(t *testing.T, logSpec string, def *stream.Definition) (map[string]*stream.State, int) {
	t.Helper()
	ctx := context.Background()
	l, err := openLogReadOnly(ctx, logSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.Describe(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	agg, dec := stream.NewAggregator(def), stream.NewRecordDecoder(def)
	states := map[string]*stream.State{}
	published := 0
	for _, pi := range info.Partitions {
		recs, err := l.Read(ctx, "tx", pi.ID, 0, log.ReadOptions{MaxRecords: 10000, MaxBytes: 1 << 24})
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			ev := def.NewEvent()
			if err := dec.Decode(&recs[i], &ev); err != nil {
				t.Fatal(err)
			}
			if states[ev.Key] == nil {
				states[ev.Key] = agg.NewState()
			}
			if agg.Apply(states[ev.Key], &ev) != stream.Dropped {
				published++
			}
		}
	}
	return states, published
}

func TestFeaturesRunGetDescribe(t *testing.T) {
	dir, defs, logSpec := featuresFixture(t)
	def, err := loadDefinition(defs)
	if err != nil {
		t.Fatal(err)
	}
	states, published := featuresOffline(t, logSpec, def)
	state := filepath.Join(dir, "state")

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	root := newRootCmd(strings.NewReader(""), &out, &errOut)
	root.SetArgs([]string{"--log", logSpec, "features", "run", "-f", defs, "--state", state})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	reader, err := openLogReadOnly(context.Background(), logSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	// The group commits a poll's offsets after its outputs are published.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		info, err := reader.Describe(context.Background(), "tx")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := reader.Committed(context.Background(), "features.cards", "tx")
		all := true
		for _, pi := range info.Partitions {
			all = all && got[pi.ID] == pi.Latest
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the processor's group has committed %v of the source's %v after 2 minutes", got, info.Partitions)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := int64(0)
	if info, err := reader.Describe(context.Background(), "features.cards.table"); err == nil {
		for _, pi := range info.Partitions {
			n += pi.Latest
		}
	}
	if n == 0 || n > int64(published) {
		t.Errorf("the feature table holds %d records; want each changed key's newest values once per poll, at most one per event (%d)", n, published)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("features run: %v\n%s", err, errOut.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("features run did not stop within a minute of its interruption")
	}

	agg := stream.NewAggregator(def)
	vals := make([]float64, len(def.Features))
	for key, st := range states {
		tm, _ := st.Time()
		agg.Value(st, tm, vals)
		var want bytes.Buffer
		if err := printValues(&want, def, vals); err != nil {
			t.Fatal(err)
		}
		got := mustRun(t, "", "features", "get", defs, key, "--state", state)
		if !strings.HasSuffix(got, want.String()) || !strings.Contains(got, "stream time "+fmtMillis(tm)) {
			t.Errorf("features get %s from the store:\n%s\nwant the values\n%s", key, got, want.String())
		}
		got = mustRun(t, "", "--log", logSpec, "features", "get", defs, key, "--table")
		if !strings.HasSuffix(got, want.String()) {
			t.Errorf("features get %s --table:\n%s\nwant the values\n%s", key, got, want.String())
		}
		later := tm + 20*60*1000
		agg.Value(st, later, vals)
		want.Reset()
		_ = printValues(&want, def, vals)
		got = mustRun(t, "", "features", "get", defs, key, "--state", state, "--at", time.UnixMilli(later).UTC().Format(time.RFC3339Nano))
		if !strings.HasSuffix(got, want.String()) {
			t.Errorf("features get %s --at 20m later:\n%s\nwant the values\n%s", key, got, want.String())
		}
	}

	got := mustRun(t, "", "features", "describe", defs)
	for _, want := range []string{"definition cards", "keyed by card", "tx_10m", "sliding 10m0s by 1m0s", "spend_1h", `merchant != "refund"`, "features.cards.table"} {
		if !strings.Contains(got, want) {
			t.Errorf("features describe has no %q:\n%s", want, got)
		}
	}
}

func TestFeaturesErrorsSayWhatAndWhere(t *testing.T) {
	dir, defs, _ := featuresFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"features", "run"}, "--file (-f) is required"},
		{[]string{"features", "get", defs, "c1", "--state", filepath.Join(dir, "none")}, "no state store for definition \"cards\""},
		{[]string{"features", "get", defs, "c1", "--at", "soon", "--table"}, "--at needs the store"},
		{[]string{"features", "describe", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
	} {
		_, _, err := run(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("flint %s: %v; want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(featuresDefs, "aggregate: count", "aggregate: tally", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "", "features", "describe", bad); err == nil || !strings.Contains(err.Error(), "bad.yaml:9:") {
		t.Errorf("describing a bad definition: %v; want its file:line", err)
	}
}
