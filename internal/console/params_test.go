package console

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer/jobs"
)

// The compare page lists both versions' fitted parameters side by side,
// the coefficients named by the pipeline's features, and marks the rows
// that differ: two logistic regressions trained on the same data, one
// stopped after 2 iterations.
func TestBrowserCompareParams(t *testing.T) {
	e := newEnv(t)
	csv := trainertest.ClicksCSV(t)
	full := trainertest.JobSpec("params", csv)
	short := strings.Replace(full, "max_iter: 100", "max_iter: 2", 1)
	if short == full {
		t.Fatal("the job spec has no max_iter: 100 to change")
	}
	for _, spec := range []string{full, short} {
		j, err := e.m.Submit(context.Background(), "job.yaml", []byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		if j, err = e.m.Wait(context.Background(), j.ID); err != nil || j.State != jobs.Succeeded {
			t.Fatalf("job %s: %v, %v (%s)", j.ID, j.State, err, j.Error)
		}
	}
	ctx := tab(t)
	login(t, ctx, e, readToken)
	do(t, ctx, chromedp.Navigate(e.url+"/models/params/compare?a=1&b=2"), chromedp.WaitVisible("#compare-params"))
	names := eval[[]string](t, ctx, `[...document.querySelectorAll('#compare-params tbody tr')].map(tr => tr.dataset.param)`)
	for _, want := range []string{"coef x1", "coef x2", "intercept", "classes"} {
		if !strings.Contains(strings.Join(names, "|"), want) {
			t.Errorf("parameters %q, want %q among them", names, want)
		}
	}
	cells := eval[[]string](t, ctx, `[...document.querySelectorAll('#compare-params tr[data-param="coef x1"] td')].map(td => td.innerText)`)
	if len(cells) != 4 || cells[1] == "" || cells[2] == "" || cells[1] == cells[2] || cells[3] == "" {
		t.Errorf("coef x1 row %q, want two different values and their change", cells)
	}
	if !eval[bool](t, ctx, `document.querySelector('#compare-params tr[data-param="coef x1"]').classList.contains("diff")`) {
		t.Error("coef x1 differs but is not marked")
	}
	if eval[bool](t, ctx, `document.querySelector('#compare-params tr[data-param="classes"]').classList.contains("diff")`) {
		t.Error("classes (2 in both) is marked as differing")
	}
	docShot(t, ctx, "compare-params")
}

// A model of many features shows maxParamRows parameters, those that
// differ most, in the model's order; a version without parameters says so.
func TestCompareParamsRows(t *testing.T) {
	const n = 300
	ca, cb := make([]float64, n), make([]float64, n)
	for j := range ca {
		ca[j], cb[j] = float64(j), float64(j)
	}
	cb[250], cb[7] = 1000, -5 // the two that differ
	enc := func(coef []float64) *models.Artifact {
		b, err := (&ml.LinearModel{Coef: coef, Intercept: 1}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return &models.Artifact{Algorithm: "linreg", Params: b}
	}
	pc := compareParams(enc(ca), enc(cb))
	if pc.ErrA != "" || pc.ErrB != "" || len(pc.Rows) != maxParamRows || pc.Hidden != n+1-maxParamRows {
		t.Fatalf("%d rows, %d hidden, errors %q %q; want %d rows and %d hidden", len(pc.Rows), pc.Hidden, pc.ErrA, pc.ErrB, maxParamRows, n+1-maxParamRows)
	}
	var diff []string
	for _, r := range pc.Rows {
		if r.Diff {
			diff = append(diff, r.Name)
		}
	}
	if strings.Join(diff, ",") != "coef x[7],coef x[250]" {
		t.Errorf("rows marked as differing %q, want coef x[7] and coef x[250]", diff)
	}
	pc = compareParams(&models.Artifact{Algorithm: "logreg"}, enc(cb))
	if pc.ErrA != "this version holds no parameters" || pc.ErrB != "" || len(pc.Rows) == 0 || !pc.Rows[0].Diff || pc.Rows[0].HasA {
		t.Errorf("a version without parameters: %+v", pc)
	}
}
