package console

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/trainer/jobs"
)

// Curves keeps every point, replaces the points a resumed attempt reports
// again, halves a fit past MaxPoints, and evicts the oldest job past
// MaxJobs — never because a job was only looked at.
func TestCurves(t *testing.T) {
	c := NewCurves()
	o := c.Observe("a")
	for i := range 10 {
		o.Iteration(0, ml.Progress{Iter: i, Loss: float64(10 - i)}, 100)
	}
	for i := 6; i < 8; i++ { // a retry from the checkpoint at iteration 6
		o.Iteration(0, ml.Progress{Iter: i, Loss: 1}, 100)
	}
	got, _ := c.Get("a")
	if n := len(got[0]); n != 8 || got[0][7].Iter != 7 || got[0][6].Loss != 1 {
		t.Errorf("after a retry from 6: %d points, last %+v; want 8 ending at iteration 7 with the retry's loss", n, got[0][n-1])
	}
	for i := range 300 {
		if pts, ch := c.Get(fmt.Sprint("looked-at-", i)); len(pts) != 0 || ch != nil {
			t.Fatal("Get of an unknown job returned points or a channel")
		}
	}
	if got, _ := c.Get("a"); len(got[0]) != 8 {
		t.Error("looking at other jobs evicted a job's curve")
	}
	big := c.Observe("big")
	for i := range MaxPoints + 1 {
		big.Iteration(0, ml.Progress{Iter: i}, 0)
	}
	if got, _ := c.Get("big"); len(got[0]) != MaxPoints/2+1 || got[0][len(got[0])-1].Iter != MaxPoints {
		t.Errorf("a fit of %d points keeps %d, want %d ending at the last", MaxPoints+1, len(got[0]), MaxPoints/2+1)
	}
	for i := range MaxJobs {
		c.Observe(fmt.Sprint("j", i)).Iteration(0, ml.Progress{}, 0)
	}
	if got, _ := c.Get("a"); len(got) != 0 {
		t.Error("the oldest job was kept past MaxJobs")
	}
}

// The job page charts the step size beside the loss and gradient norm,
// with a point per iteration that took a step, and leaves the chart out
// for fits that take none (k-means, ALS, an MLP).
func TestStepChart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []float64 // by iteration, from 0
		want  int       // points of the step-size chart; -1: no chart
	}{
		{"lbfgs", []float64{0, 1, 0.5, 0.25, 2}, 4},
		{"kmeans", []float64{0, 0, 0}, -1},
		{"failed line search", []float64{0, 0.5, 0}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			curves := NewCurves()
			o := curves.Observe("j")
			for i, s := range tc.steps {
				o.Iteration(0, ml.Progress{Iter: i, Loss: 1, GradNorm: 1, Step: s}, 10)
			}
			c := &Console{cfg: Config{Curves: curves}}
			charts, points, _ := c.jobCharts(jobs.Job{ID: "j"})
			html := ""
			for _, ch := range charts {
				html += string(ch)
			}
			if points != len(tc.steps) {
				t.Errorf("%d points charted, want %d", points, len(tc.steps))
			}
			has := strings.Contains(html, `id="step-chart"`)
			switch {
			case tc.want < 0 && has:
				t.Errorf("a step-size chart for a fit without steps:\n%s", html)
			case tc.want >= 0 && !has:
				t.Errorf("no step-size chart:\n%s", html)
			case tc.want >= 0 && !strings.Contains(html[strings.Index(html, `id="step-chart"`):], fmt.Sprintf(`data-points="%d"`, tc.want)):
				t.Errorf("the step-size chart does not have %d points:\n%s", tc.want, html)
			}
		})
	}
}
