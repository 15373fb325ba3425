package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/internal/trainertest"
	flog "github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer/jobs"
)

// logEnv is a console over an embedded log alone, served on loopback.
type logEnv struct {
	url string
	dir string // the log's directory
	log *disk.Log
}

func newLogEnv(t *testing.T, schemas map[string]features.Schema) *logEnv {
	t.Helper()
	e := &logEnv{dir: t.TempDir()}
	var err error
	if e.log, err = disk.Open(disk.Config{Dir: e.dir, Sync: disk.SyncUnsafeNever}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.log.Close() })
	var ts bearer.Tokens[Scope]
	ts.Add(readToken, ScopeRead)
	con, err := New(Config{Log: e.log, Schemas: schemas, Tokens: &ts, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.url = serve(t, con)
	return e
}

// segBytes adds up the sizes of the segment files of one partition.
func (e *logEnv) segBytes(t *testing.T, topic string, p int) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(e.dir, topic, strconv.Itoa(p), "*.seg"))
	if err != nil || len(files) == 0 {
		t.Fatalf("segment files of %s/%d: %v (%d files)", topic, p, err, len(files))
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func (e *logEnv) login(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(e.url+"/log"), chromedp.WaitVisible("#token"), chromedp.SendKeys("#token", readToken),
		chromedp.Click("#login-submit"), chromedp.WaitVisible("#topics"))
}

// The log page shows each partition's size and the topic's, in bytes, as
// the embedded log's segment files hold them; so does the topic page.
func TestBrowserLogSizes(t *testing.T) {
	e := newLogEnv(t, nil)
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "sized", flog.TopicConfig{Partitions: 3, SegmentBytes: 4096}); err != nil {
		t.Fatal(err)
	}
	recs := make([]flog.Record, 300)
	for i := range recs {
		recs[i] = flog.Record{Key: []byte("k" + itoa(i)), Value: []byte(strings.Repeat("v", i%50))}
	}
	if err := e.log.Append(ctx, "sized", recs); err != nil {
		t.Fatal(err)
	}
	var want [3]int64
	var total int64
	for p := range want {
		want[p] = e.segBytes(t, "sized", p)
		total += want[p]
	}
	tc := tab(t)
	e.login(t, tc)
	got := eval[string](t, tc, `document.querySelector('tr[data-topic="sized"] td.topic-size').dataset.bytes`)
	if got != fmt.Sprint(total) {
		t.Errorf("log page: topic size %s bytes, the segment files hold %d", got, total)
	}
	if txt := eval[string](t, tc, `document.querySelector('tr[data-topic="sized"] td.topic-size').textContent`); txt != fmtBytes(total) {
		t.Errorf("log page: topic size reads %q, want %q", txt, fmtBytes(total))
	}
	for p, w := range want {
		got := eval[string](t, tc, fmt.Sprintf(`document.querySelector('tr[data-topic="sized"] td.partition-sizes span[data-partition="%d"]').dataset.bytes`, p))
		if got != fmt.Sprint(w) {
			t.Errorf("log page: partition %d size %s bytes, its segment files hold %d", p, got, w)
		}
	}
	do(t, tc, chromedp.Navigate(e.url+"/log/topics/sized"), chromedp.WaitVisible("#partitions"))
	sizes := eval[[]string](t, tc, `[...document.querySelectorAll('#partitions td.partition-size')].map(td => td.dataset.bytes)`)
	if len(sizes) != 3 {
		t.Fatalf("topic page: %d partition sizes, want 3", len(sizes))
	}
	for p, w := range want {
		if sizes[p] != fmt.Sprint(w) {
			t.Errorf("topic page: partition %d size %s bytes, its segment files hold %d", p, sizes[p], w)
		}
	}
	if got := eval[string](t, tc, `document.querySelector('#topic-size').dataset.bytes`); got != fmt.Sprint(total) {
		t.Errorf("topic page: total %s bytes, want %d", got, total)
	}
}

// A log that is no log.Sizer shows sizes as "unknown", never 0.
func TestLogSizesUnknown(t *testing.T) {
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), Sync: disk.SyncUnsafeNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateTopic(ctx, "t", flog.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	con, err := New(Config{Log: noSizes{l}, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s := con.partitionSizes(ctx, "t", 2)
	if s.Total != -1 || len(s.Sizes) != 2 || s.Sizes[0] != -1 || s.Sizes[1] != -1 || s.SizeNote == "" {
		t.Fatalf("sizes of a log without log.Sizer = %+v, want every size -1 (unknown) and a note", s)
	}
	res, err := http.Get(serve(t, con) + "/log")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if body := string(b); !strings.Contains(body, ">unknown</td>") {
		t.Errorf("log page does not say the size is unknown:\n%s", body)
	}
}

// noSizes hides the disk log's PartitionSizes.
type noSizes struct{ Log }

// The record browser decodes a topic's records with its schema, one
// column per field; a record that does not fit shows the error sentence,
// naming the field and the record's offset, beside its raw bytes.
func TestBrowserRecordsDecoded(t *testing.T) {
	schema := features.Schema{Fields: []features.Field{
		{Name: "user", Type: features.Categorical},
		{Name: "amount", Type: features.Numeric},
		{Name: "at", Type: features.Timestamp, Optional: true},
	}}
	e := newLogEnv(t, map[string]features.Schema{"payments": schema})
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "payments", flog.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	values := []string{
		`{"user": "ann", "amount": 12.5, "at": "2026-12-07T14:00:00Z"}`,
		`{"user": "bob", "amount": "lots"}`,
		`{"user": "cy", "amount": 3}`,
	}
	var recs []flog.Record
	for _, v := range values {
		recs = append(recs, flog.Record{Value: []byte(v)})
	}
	if err := e.log.Append(ctx, "payments", recs); err != nil {
		t.Fatal(err)
	}
	tc := tab(t)
	e.login(t, tc)
	do(t, tc, chromedp.Navigate(e.url+"/log/topics/payments"), chromedp.WaitVisible("#records"))
	heads := eval[[]string](t, tc, `[...document.querySelectorAll('#records th[data-field]')].map(th => th.dataset.field)`)
	if strings.Join(heads, ",") != "user,amount,at" {
		t.Errorf("field columns %v, want user, amount, at", heads)
	}
	cells := func(off int) []string {
		return eval[[]string](t, tc, fmt.Sprintf(`[...document.querySelectorAll('#records tr[data-offset="%d"] td')].map(td => td.innerText)`, off))
	}
	if got := cells(0); len(got) != 7 || got[3] != "ann" || got[4] != "12.5" || got[5] != "2026-12-07T14:00:00Z" {
		t.Errorf("record 0 cells %q, want ann, 12.5, 2026-12-07T14:00:00Z in the field columns", got)
	}
	if got := cells(2); len(got) != 7 || got[3] != "cy" || got[4] != "3" || got[5] != "null" {
		t.Errorf("record 2 cells %q, want cy, 3, null in the field columns", got)
	}
	bad := eval[string](t, tc, `document.querySelector('#records tr[data-offset="1"] td.decode-error').innerText`)
	for _, want := range []string{"payments/0: record at offset 1", `field "amount"`, values[1]} {
		if !strings.Contains(bad, want) {
			t.Errorf("undecodable record shows %q, want it to contain %q", bad, want)
		}
	}
	if origin := eval[string](t, tc, `document.querySelector('#schema-origin').innerText`); !strings.Contains(origin, "--console-schema") {
		t.Errorf("schema origin %q, want it to name --console-schema", origin)
	}
	docShot(t, tc, "records-decoded")
}

// Without an explicit schema, a topic's schema comes from the newest job
// whose spec reads it, and an explicit one wins over it.
func TestSchemaFromJobSpec(t *testing.T) {
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), Sync: disk.SyncUnsafeNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := jobs.NewManager(context.Background(), jobs.ManagerConfig{Store: st, Registry: models.NewRegistry(st), Log: l,
		Logger: trainertest.QuietLogger(), FlintVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	spec := `name: from-topic
source: {topic: events}
schema:
  fields: [{name: a, type: numeric}, {name: b, type: numeric}]
  label: a
algorithm:
  linear_regression: {}
`
	j, err := m.Submit(context.Background(), "events.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	con, err := New(Config{Jobs: m, Log: l, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s := con.schemaFor("events")
	if s == nil || len(s.Schema.Fields) != 2 || s.Schema.Fields[1].Name != "b" || !strings.Contains(s.Origin, j.ID) {
		t.Fatalf("schemaFor(events) = %+v, want fields a, b from job %s", s, j.ID)
	}
	if s := con.schemaFor("other"); s != nil {
		t.Errorf("schemaFor(other) = %+v, want none", s)
	}
	explicit := features.Schema{Fields: []features.Field{{Name: "z", Type: features.Numeric}}}
	con, err = New(Config{Jobs: m, Log: l, Schemas: map[string]features.Schema{"events": explicit}, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if s := con.schemaFor("events"); s == nil || s.Origin != "--console-schema" || s.Schema.Fields[0].Name != "z" {
		t.Errorf("schemaFor(events) with an explicit schema = %+v, want it", s)
	}
	bad := features.Schema{Fields: []features.Field{{Name: "z", Type: "complex"}}}
	if _, err := New(Config{Log: l, Schemas: map[string]features.Schema{"events": bad}}); err == nil || !strings.Contains(err.Error(), `topic "events"`) {
		t.Errorf("New with a bad schema: %v, want an error naming the topic", err)
	}
}

// The parsed specs the record browser keeps are bounded: once they pass
// twice the jobs it looks at, those of jobs no longer among the newest go,
// so a driver that runs jobs for months keeps its memory flat.
func TestSchemaBookForgetsOldJobs(t *testing.T) {
	b := &schemaBook{specs: map[string]jobSource{}}
	for i := range 2 * maxSchemaJobs {
		b.specs[fmt.Sprint(i)] = jobSource{topic: "t"}
	}
	keep := []jobs.Job{{ID: "1"}, {ID: "2"}, {ID: "new"}}
	b.forgetAllBut(keep)
	if len(b.specs) != 2*maxSchemaJobs {
		t.Fatalf("%d specs kept at the bound, want all %d", len(b.specs), 2*maxSchemaJobs)
	}
	b.specs["one more"] = jobSource{}
	b.forgetAllBut(keep)
	if _, ok := b.specs["1"]; len(b.specs) != 2 || !ok {
		t.Fatalf("past the bound kept %d specs, want those of jobs 1 and 2", len(b.specs))
	}
}
