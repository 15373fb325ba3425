package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flintml/flint/internal/trainertest"
	flog "github.com/flintml/flint/log"
)

var logReadOne = flog.ReadOptions{MaxRecords: 1}

// chromiumPath is Debian's Chromium; make tools installs it.
const chromiumPath = "/usr/bin/chromium"

// browser is the one headless Chromium the tests of this package share,
// started by the first test that needs it (each test opens its own tab in
// its own browser context, so cookies are not shared).
var browser struct {
	once   sync.Once
	ctx    context.Context
	err    error
	cancel []context.CancelFunc
	dir    string
}

func TestMain(m *testing.M) {
	workerProcess() // when the test binary is started as a worker (workers_test.go)
	code := m.Run()
	for i := len(browser.cancel) - 1; i >= 0; i-- {
		browser.cancel[i]()
	}
	if browser.dir != "" {
		os.RemoveAll(browser.dir)
	}
	os.Exit(code)
}

func startBrowser() {
	browser.dir, browser.err = os.MkdirTemp("", "flint-console-chromium-")
	if browser.err != nil {
		return
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(browser.dir),
		chromedp.WindowSize(1280, 900))
	bctx, cancelBrowser := chromedp.NewContext(actx)
	browser.cancel = append(browser.cancel, cancelAlloc, cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		browser.err = fmt.Errorf("start %s: %w", chromiumPath, err)
		return
	}
	browser.ctx = bctx
}

// tab opens a tab with its own cookies. On failure it saves a screenshot
// of the page to testdata/failed/TEST.png (ignored by git).
func tab(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip(chromiumPath + " is not installed (make tools installs it)")
	}
	browser.once.Do(startBrowser)
	if browser.err != nil {
		t.Fatal(browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		if t.Failed() {
			shotOnFailure(t, ctx)
		}
		cancelT()
		cancel()
	})
	return ctx
}

func shotOnFailure(t *testing.T, ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	p := filepath.Join("testdata", "failed", fmt.Sprintf("%s-%s.png", strings.ReplaceAll(t.Name(), "/", "_"), chromedp.FromContext(ctx).Target.TargetID))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
		if err := os.WriteFile(p, png, 0o644); err == nil {
			t.Logf("screenshot of the page: %s", p)
		}
	}
}

// docShot saves a screenshot of the page as docs/console/NAME.png when
// $FLINT_CONSOLE_SCREENSHOTS names the repository's docs/console folder.
func docShot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("FLINT_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until the JavaScript expression is true in the page.
func waitJS(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	// Evaluated from here rather than with chromedp.Poll, so that the wait
	// goes on across a reload of the page.
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waiting for %s: still %v (err %v)", js, ok, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// login opens a console page, is sent to the login prompt, and logs in
// with token.
func login(t *testing.T, ctx context.Context, e *env, token string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(e.url+"/jobs"), chromedp.WaitVisible("#token"), chromedp.SendKeys("#token", token),
		chromedp.Click("#login-submit"), chromedp.WaitVisible("header nav"))
}

// An unauthenticated browser sees the login prompt and none of the
// data, on every page.
func TestBrowserLoginPrompt(t *testing.T) {
	e := newEnv(t)
	e.publish(t, "hidden-model", 2)
	e.fillLog(t, "hidden-topic", "hidden-group", 20, 5)
	ctx := tab(t)
	for _, p := range []string{"/", "/jobs", "/models", "/models/hidden-model", "/log", "/log/topics/hidden-topic"} {
		do(t, ctx, chromedp.Navigate(e.url+p), chromedp.WaitVisible("#login"))
		body := eval[string](t, ctx, "document.body.innerText")
		for _, secret := range []string{"hidden-model", "hidden-topic", "hidden-group", "logreg", "Jobs"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s without a token shows %q:\n%s", p, secret, body)
			}
		}
	}
	docShot(t, ctx, "login")
}

// A job's loss curve grows while the job runs, over server-sent events,
// and has as many points as iterations the job reported; its step-size
// curve has one fewer (the starting point, iteration 0, took no step).
func TestBrowserJobLiveCurve(t *testing.T) {
	e := newEnv(t)
	e.hook.hold(3)
	defer e.hook.hold(0)
	j := e.submit(t, "live")
	ctx := tab(t)
	login(t, ctx, e, adminToken)
	do(t, ctx, chromedp.Navigate(e.url+"/jobs/"+j.ID), chromedp.WaitVisible("#loss-chart"))
	points := func(n int) string {
		return fmt.Sprintf(`(document.querySelector('#loss-chart polyline[data-series="final fit"]')||{dataset:{}}).dataset.points === "%d"`, n) +
			fmt.Sprintf(` && (document.querySelector('#step-chart polyline[data-series="final fit"]')||{dataset:{}}).dataset.points === "%d"`, n-1)
	}
	running := `document.getElementById("job-state").textContent === "running"`
	list := tab(t) // the jobs list, open while the job runs
	login(t, list, e, readToken)
	do(t, list, chromedp.Navigate(e.url+"/jobs"), chromedp.WaitVisible("#jobs"))
	rowState := fmt.Sprintf(`(document.querySelector('tr[data-job="%s"] .state')||{textContent:""}).textContent`, j.ID)
	for _, next := range []int{8, 0} {
		<-e.hook.held
		n := e.hook.count(j.ID)
		waitJS(t, ctx, points(n)+" && "+running)
		if next == 0 {
			docShot(t, ctx, "job-running")
		} else {
			readerCannotCancel(t, e, j.ID)
			waitJS(t, list, rowState+` === "running"`)
			if !eval[bool](t, ctx, `document.getElementById("cancel") !== null`) {
				t.Error("an admin sees no cancel button on a running job")
			}
		}
		e.hook.hold(next) // lets the job go on, to iteration next
	}
	// The stream says "end" and the page reloads with the result.
	waitJS(t, ctx, `document.getElementById("stop-reason") !== null`)
	n := e.hook.count(j.ID)
	if n <= 9 {
		t.Fatalf("the job reported %d iterations, want more than the 9 held at", n)
	}
	waitJS(t, ctx, points(n))
	if got := eval[string](t, ctx, `document.getElementById("job-state").textContent`); got != "succeeded" {
		t.Errorf("job state %q, want succeeded", got)
	}
	if got := eval[string](t, ctx, `document.getElementById("iterations").textContent`); got == "" {
		t.Error("no iteration count in the result")
	}
	// The list open all along shows it finished, without a reload.
	waitJS(t, list, rowState+` === "succeeded"`)
	// A fresh list shows it, with its model.
	do(t, ctx, chromedp.Navigate(e.url+"/jobs"), chromedp.WaitVisible("#jobs"))
	row := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('tr[data-job="%s"]').innerText`, j.ID))
	if !strings.Contains(row, "succeeded") || !strings.Contains(row, "live v1") {
		t.Errorf("jobs list row %q, want succeeded and the model live v1", row)
	}
}

// A read token sees no cancel or promote button, and the console refuses
// the requests behind them; an admin promotes with a reason, which shows
// in the alias history.
func TestBrowserPromote(t *testing.T) {
	e := newEnv(t)
	e.publish(t, "clicks", 5)
	admin := tab(t)
	login(t, admin, e, adminToken)
	do(t, admin, chromedp.Navigate(e.url+"/models/clicks"), chromedp.WaitVisible("#versions"))
	if n := eval[int](t, admin, `document.querySelectorAll("#versions tbody tr").length`); n != 5 {
		t.Errorf("%d version rows, want 5", n)
	}
	if got := eval[string](t, admin, `document.querySelector('#metric-auc polyline').dataset.points`); got != "5" {
		t.Errorf("auc chart has %s points, want 5 (one per version)", got)
	}
	do(t, admin, chromedp.SetValue("#promote-version", "3"), chromedp.SendKeys("#promote-reason", "best auc on the holdout"),
		chromedp.Click("#promote-submit"), chromedp.WaitVisible("#done"))
	waitJS(t, admin, `document.getElementById("history").innerText.includes("best auc on the holdout")`)
	hist := eval[string](t, admin, `document.querySelector("#history tbody tr").innerText`)
	if !strings.Contains(hist, "production") || !strings.Contains(hist, "v3") || !strings.Contains(hist, "console (admin token)") {
		t.Errorf("newest alias history row %q, want production moved to v3 by the console's admin", hist)
	}
	if got := eval[string](t, admin, `document.querySelector('#aliases tr[data-alias="production"]').innerText`); !strings.Contains(got, "3") {
		t.Errorf("aliases row %q, want production → 3", got)
	}
	docShot(t, admin, "model")

	reader := tab(t)
	login(t, reader, e, readToken)
	do(t, reader, chromedp.Navigate(e.url+"/models/clicks"), chromedp.WaitVisible("#history"))
	if eval[bool](t, reader, `document.getElementById("promote") !== null`) {
		t.Error("a read token sees the promote form")
	}
	status, err := chromedp.Run(reader, chromedp.Evaluate[int](`fetch(location.pathname + "/promote", {method: "POST",
		body: new URLSearchParams({alias: "production", version: "1", reason: "sneaky"})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Errorf("a read token's promote from the page: %d, %v; want 403", status, err)
	}
	m, err := e.reg.Describe(context.Background(), "clicks")
	if err != nil || m.Aliases["production"] != 3 {
		t.Errorf("production after a read token's promote: %v, %v; want 3", m.Aliases, err)
	}
}

// readerCannotCancel checks, in a tab with a read token, that a running
// job's page has no cancel button and that the console refuses a cancel.
func readerCannotCancel(t *testing.T, e *env, id string) {
	reader := tab(t)
	login(t, reader, e, readToken)
	do(t, reader, chromedp.Navigate(e.url+"/jobs/"+id), chromedp.WaitVisible("#job-state"))
	if eval[bool](t, reader, `document.getElementById("cancel") !== null`) {
		t.Error("a read token sees the cancel button")
	}
	status, err := chromedp.Run(reader, chromedp.Evaluate[int](`fetch(location.pathname + "/cancel", {method: "POST"}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Errorf("a read token's cancel from the page: %d, %v; want 403", status, err)
	}
	if j, _ := e.m.Get(id); j.CancelRequested {
		t.Error("a read token asked the job to stop")
	}
}

// The log page shows each topic's partitions and each group's lag per
// partition, as flint log groups computes it; the record browser reads
// from an offset.
func TestBrowserLog(t *testing.T) {
	e := newEnv(t)
	e.fillLog(t, "clicks", "trainer", 400, 30)
	ctx := tab(t)
	login(t, ctx, e, readToken)
	do(t, ctx, chromedp.Navigate(e.url+"/log"), chromedp.WaitVisible("#topics"))
	bg := context.Background()
	info, err := e.log.Describe(bg, "clicks")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := e.log.Committed(bg, "trainer", "clicks")
	if err != nil {
		t.Fatal(err)
	}
	if len(committed) == 0 {
		t.Fatal("the group committed nothing")
	}
	for _, p := range info.Partitions {
		// flint log groups: latest - committed, or latest - earliest
		// where the group never committed.
		want := p.Latest - p.Earliest
		if c, ok := committed[p.ID]; ok {
			want = p.Latest - c
		}
		got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('table.lag[data-group="trainer"][data-topic="clicks"] tr[data-partition="%d"] td.lag').textContent`, p.ID))
		if got != fmt.Sprint(want) {
			t.Errorf("partition %d: lag %s, want %d", p.ID, got, want)
		}
	}
	if got := eval[string](t, ctx, `document.querySelector('tr[data-topic="clicks"]').innerText`); !strings.Contains(got, "400") || !strings.Contains(got, "48h0m0s") {
		t.Errorf("topic row %q, want 400 records retained for 48h", got)
	}
	docShot(t, ctx, "log")

	recs, err := e.log.Read(bg, "clicks", 1, 5, logReadOne)
	if err != nil || len(recs) == 0 {
		t.Fatalf("read clicks/1 at 5: %v", err)
	}
	do(t, ctx, chromedp.Navigate(e.url+"/log/topics/clicks?partition=1&offset=5"), chromedp.WaitVisible("#records"))
	row := eval[string](t, ctx, `document.querySelector("#records tbody tr").innerText`)
	if !strings.Contains(row, string(recs[0].Value)) || !strings.HasPrefix(row, "5") {
		t.Errorf("first record row %q, want offset 5 with value %s", row, recs[0].Value)
	}
}

// A grid search's points show as a table with a row per point, which
// sorts by a column when its header is clicked, and as a chart of the
// score over the parameter.
func TestBrowserGridTable(t *testing.T) {
	e := newEnv(t)
	spec := strings.Replace(trainertest.JobSpec("grid", trainertest.ClicksCSV(t)), "engine:", "evaluation: {folds: 3, grid: {reg_param: [0.001, 0.1, 1, 10]}}\nengine:", 1)
	j, err := e.m.Submit(context.Background(), "grid.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if j, err = e.m.Wait(wctx, j.ID); err != nil || j.Result == nil {
		t.Fatalf("the job: %v %s", err, j.Error)
	}
	ctx := tab(t)
	login(t, ctx, e, readToken)
	do(t, ctx, chromedp.Navigate(e.url+"/jobs/"+j.ID), chromedp.WaitVisible("#trials"))
	if n := eval[int](t, ctx, `document.querySelectorAll("#trials tbody tr").length`); n != len(j.Result.Trials) || n != 4 {
		t.Errorf("%d grid rows, want one per point (%d)", n, len(j.Result.Trials))
	}
	if got := eval[string](t, ctx, `document.querySelector("#grid-reg_param polyline").dataset.points`); got != "4" {
		t.Errorf("the grid chart has %s points, want 4", got)
	}
	// Sorting by the score column (the third), descending after two clicks.
	col := `Array.from(document.querySelectorAll("#trials tbody tr")).map(r => parseFloat(r.cells[2].textContent))`
	do(t, ctx, chromedp.Click("#trials thead th:nth-child(3)"), chromedp.Click("#trials thead th:nth-child(3)"))
	scores := eval[[]float64](t, ctx, col)
	for i := 1; i < len(scores); i++ {
		if scores[i] > scores[i-1] {
			t.Fatalf("scores after sorting descending: %v", scores)
		}
	}
	// The loss chart has a curve per grid point besides the final fit.
	if n := eval[int](t, ctx, `document.querySelectorAll("#loss-chart polyline").length`); n < 2 {
		t.Errorf("%d curves in the loss chart, want the final fit and the grid points", n)
	}
}
