package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flintml/flint/log"
)

// flint features backfill labels every event of the definition's own
// topic with the features just before it, to a file or a topic; the
// count before the first event of a card is 0.
func TestFeaturesBackfill(t *testing.T) {
	_, defs, logSpec := featuresFixture(t)
	out := mustRun(t, "", "--log", logSpec, "features", "backfill", "-f", defs, "--labels", "tx")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 300 {
		t.Fatalf("%d lines, want 300", len(lines))
	}
	first := map[string]bool{}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		card := m["card"].(string)
		if _, ok := m["tx_10m"]; !ok {
			t.Fatalf("no tx_10m in %s", line)
		}
		if !first[card] && m["tx_10m"].(float64) != 0 {
			t.Errorf("the first event of %s counts %v earlier events", card, m["tx_10m"])
		}
		first[card] = true
	}
	_, errOut, err := run(t, "", "--log", logSpec, "features", "backfill", "-f", defs, "--labels", "tx", "--to-topic", "tx.asof")
	if err != nil || !strings.Contains(errOut, "300 records of tx joined with cards, appended to tx.asof") {
		t.Fatalf("--to-topic: %v %s", err, errOut)
	}
	l, err := openLogReadOnly(context.Background(), logSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.Describe(context.Background(), "tx.asof")
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, p := range info.Partitions {
		recs, err := l.Read(context.Background(), "tx.asof", p.ID, 0, log.ReadOptions{MaxRecords: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 && log.Partition(recs[0].Key, len(info.Partitions)) != p.ID {
			t.Errorf("record keyed %q in partition %d", recs[0].Key, p.ID)
		}
		n += p.Latest
	}
	if n != 300 {
		t.Errorf("tx.asof holds %d records", n)
	}
	_, errOut, err = run(t, "", "--log", logSpec, "features", "backfill", "-f", defs)
	if err == nil || !strings.Contains(errOut+err.Error(), "--labels are required") {
		t.Errorf("no --labels: %v %s", err, errOut)
	}
	_, errOut, err = run(t, "", "--log", logSpec, "features", "backfill", "-f", defs, "--labels", "nosuch")
	if want := "--labels nosuch: no such topic in the log " + logSpec; err == nil || !strings.Contains(errOut+err.Error(), want) {
		t.Errorf("an unknown label topic: %v %s, want %q", err, errOut, want)
	}
}
