package console

import (
	"math"
	"strings"
	"testing"
)

// A chart draws one polyline per series with its finite points counted,
// escapes the names it shows, and says when it has nothing to show.
func TestChartRender(t *testing.T) {
	for _, c := range []struct {
		name  string
		ch    chart
		wants []string
		not   []string
	}{
		{"points counted, non-finite left out", chart{ID: "c", Series: []series{{Name: "fit", X: []float64{0, 1, 2, 3}, Y: []float64{1, math.NaN(), 0.5, math.Inf(1)}}}},
			[]string{`data-points="2"`, `data-series="fit"`}, []string{"no points yet", "log scale"}},
		{"names escaped", chart{ID: `"><script>`, Title: "<b>", Series: []series{{Name: "<img>", X: []float64{1}, Y: []float64{1}}, {Name: "b", X: []float64{1}, Y: []float64{2}}}},
			[]string{"&lt;img&gt;", "&lt;b&gt;", "&#34;&gt;&lt;script&gt;"}, []string{"<script>", "<img>", "<b>"}},
		{"empty", chart{ID: "e"}, []string{"no points yet"}, nil},
		{"log scale over decades", chart{ID: "l", LogY: true, Series: []series{{X: []float64{0, 1, 2}, Y: []float64{100, 1, 0.01}}}},
			[]string{"log scale", `data-points="3"`}, nil},
		{"no log scale for a non-positive value", chart{ID: "l", LogY: true, Series: []series{{X: []float64{0, 1}, Y: []float64{100, -1}}}},
			nil, []string{"log scale"}},
	} {
		got := string(c.ch.render())
		for _, w := range c.wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no %q in %s", c.name, w, got)
			}
		}
		for _, w := range c.not {
			if strings.Contains(got, w) {
				t.Errorf("%s: %q in %s", c.name, w, got)
			}
		}
	}
}
