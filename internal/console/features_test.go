package console

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

const cardsDef = `name: cards
source:
  topic: tx
  key: card
  time: at
  fields: {card: string, at: timestamp, amount: number}
features:
  - {name: tx_1h, aggregate: count, window: {sliding: 1h, resolution: 5m}}
  - {name: spend_1h, aggregate: sum, field: amount, window: {sliding: 1h, resolution: 5m}}
`

// The features page shows a definition with its processor's lag and its
// table's freshness, live, and a key's current values: those the
// aggregator gives for the key's events.
func TestBrowserFeatures(t *testing.T) {
	ctx := context.Background()
	def, err := stream.Parse("cards.yaml", []byte(cardsDef))
	if err != nil {
		t.Fatal(err)
	}
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), Sync: disk.SyncUnsafeNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "tx", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	event := func(i int) log.Record {
		card := fmt.Sprintf("c%d", i%3)
		at := float64(1_700_000_000_000+int64(i)*60_000) / 1000
		return log.Record{Key: []byte(card), Value: fmt.Appendf(nil, `{"card":%q,"at":%.3f,"amount":%d}`, card, at, 10+i)}
	}
	var recs []log.Record
	for i := range 30 {
		recs = append(recs, event(i))
	}
	if err := l.Append(ctx, "tx", recs); err != nil {
		t.Fatal(err)
	}
	p, err := stream.NewProcessor(ctx, stream.ProcessorConfig{Log: l, Definition: def, Dir: filepath.Join(t.TempDir(), "state"),
		PollWait: 20 * time.Millisecond, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	waitFor(t, func() bool { // the processor has committed every event

		got, _ := l.Committed(ctx, "features.cards", "tx")
		return got[0]+got[1] == 30
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.Close()

	// The key's values as the aggregator gives them after its events.
	agg := stream.NewAggregator(def)
	dec := stream.NewRecordDecoder(def)
	st, ev := agg.NewState(), def.NewEvent()
	for i := 1; i < 30; i += 3 { // c1's events
		r := event(i)
		if err := dec.Decode(&r, &ev); err != nil {
			t.Fatal(err)
		}
		agg.Apply(st, &ev)
	}
	tm, _ := st.Time()
	want := make([]float64, 2)
	agg.Value(st, tm, want)

	con, err := New(Config{Log: l, Features: []*stream.Definition{def}, Poll: 50 * time.Millisecond, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, con)
	tb := tab(t)
	do(t, tb, chromedp.Navigate(url+"/features"), chromedp.WaitVisible(`section[data-def="cards"]`))
	body := eval[string](t, tb, `document.querySelector('section[data-def="cards"]').innerText`)
	for _, s := range []string{"tx_1h", "count", "sliding 1h00m by 5m00s", "spend_1h", "sum(amount)", "features.cards.table"} {
		if !strings.Contains(body, s) {
			t.Errorf("the definition's section lacks %q:\n%s", s, body)
		}
	}
	lag := `document.querySelector('section[data-def="cards"] .lag').textContent`
	if got := eval[string](t, tb, lag); got != "0" {
		t.Errorf("lag %q with every event committed; want 0", got)
	}
	if age := eval[string](t, tb, `document.querySelector('section[data-def="cards"] .age').textContent`); !strings.HasSuffix(age, "ago") {
		t.Errorf("freshness %q; want the age of the table's newest record", age)
	}
	// Events the processor has not seen: the lag grows on the open page.
	if err := l.Append(ctx, "tx", []log.Record{event(30), event(31), event(32)}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, tb, lag+` === "3"`)

	do(t, tb, chromedp.SetValue("#key", "c1"), chromedp.Submit("#lookup"), chromedp.WaitVisible("#values-table"))
	for i, name := range []string{"tx_1h", "spend_1h"} {
		got := eval[string](t, tb, fmt.Sprintf(`document.querySelector('#values-table tr[data-feature="%s"] td.num').textContent`, name))
		if got != strconv.FormatFloat(want[i], 'g', -1, 64) {
			t.Errorf("c1's %s shows %s; want %v", name, got, want[i])
		}
	}
	do(t, tb, chromedp.SetValue("#key", "nobody"), chromedp.Submit("#lookup"), chromedp.WaitVisible("#lookup-error"))
	if msg := eval[string](t, tb, `document.getElementById("lookup-error").textContent`); !strings.Contains(msg, `"nobody" has no value`) {
		t.Errorf("a key without values: %q", msg)
	}
}
