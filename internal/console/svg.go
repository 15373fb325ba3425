package console

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// series is one line of a chart: X and Y of equal length.
type series struct {
	Name string
	X, Y []float64
}

// chart is a line chart rendered as inline SVG on the server, so the
// console needs no chart library and a live update is the chart's markup
// sent again.
type chart struct {
	ID     string // the svg element's id
	Title  string
	XLabel string
	Series []series
	// LogY plots log10(y) when every y is positive and they span more
	// than two decades (a loss, a gradient norm).
	LogY bool
	// Markers draws a dot at every point (few points: versions).
	Markers bool
}

const (
	chartW, chartH = 560, 220
	padL, padR     = 64, 12
	padT, padB     = 26, 34
)

var palette = [...]string{"#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563"}

// frame is a chart's data range mapped to the plot area.
type frame struct {
	xmin, xmax, ymin, ymax float64
	logY, empty            bool
}

func (c chart) frame() frame {
	f := frame{xmin: math.Inf(1), xmax: math.Inf(-1), ymin: math.Inf(1), ymax: math.Inf(-1)}
	allPos := true
	for _, s := range c.Series {
		for i := range s.X {
			x, y := s.X[i], s.Y[i]
			if !finite(x) || !finite(y) {
				continue
			}
			f.xmin, f.xmax = math.Min(f.xmin, x), math.Max(f.xmax, x)
			f.ymin, f.ymax = math.Min(f.ymin, y), math.Max(f.ymax, y)
			allPos = allPos && y > 0
		}
	}
	f.logY = c.LogY && allPos && f.ymin > 0 && f.ymax/f.ymin > 100
	if f.logY {
		f.ymin, f.ymax = math.Log10(f.ymin), math.Log10(f.ymax)
	}
	f.empty = math.IsInf(f.xmin, 1)
	if f.empty {
		f.xmin, f.xmax, f.ymin, f.ymax = 0, 1, 0, 1
	}
	if f.xmax == f.xmin {
		f.xmin, f.xmax = f.xmin-1, f.xmax+1
	}
	if f.ymax == f.ymin {
		d := math.Max(math.Abs(f.ymin)*0.05, 1e-12)
		f.ymin, f.ymax = f.ymin-d, f.ymax+d
	}
	return f
}

const plotW, plotH = float64(chartW - padL - padR), float64(chartH - padT - padB)

func (f frame) px(x float64) float64 { return padL + (x-f.xmin)/(f.xmax-f.xmin)*plotW }

func (f frame) py(y float64) float64 {
	if f.logY {
		y = math.Log10(y)
	}
	return padT + (1-(y-f.ymin)/(f.ymax-f.ymin))*plotH
}

// render writes the chart. A point with a non-finite coordinate is left
// out; each polyline's data-points attribute counts the points drawn.
func (c chart) render() template.HTML {
	var b strings.Builder
	b.Grow(1024)
	f := c.frame()
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" xmlns="http://www.w3.org/2000/svg">`,
		template.HTMLEscapeString(c.ID), chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<text class="title" x="%d" y="16">%s</text>`, padL, template.HTMLEscapeString(c.Title))
	c.axes(&b, f)
	for si, s := range c.Series {
		c.line(&b, f, s, palette[si%len(palette)])
	}
	if len(c.Series) > 1 { // legend
		for si, s := range c.Series {
			x := padL + 8 + si*110
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text class="tick" x="%d" y="%d">%s</text>`,
				x, padT+8, palette[si%len(palette)], x+14, padT+12, template.HTMLEscapeString(s.Name))
		}
	}
	if f.empty {
		fmt.Fprintf(&b, `<text class="empty" x="%g" y="%g" text-anchor="middle">no points yet</text>`, padL+plotW/2, padT+plotH/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// axes writes the plot's frame, grid lines and tick labels.
func (c chart) axes(b *strings.Builder, f frame) {
	fmt.Fprintf(b, `<rect class="plot" x="%d" y="%d" width="%g" height="%g"/>`, padL, padT, plotW, plotH)
	for i := 0; i <= 4; i++ { // y ticks
		v := f.ymin + (f.ymax-f.ymin)*float64(i)/4
		y := padT + (1-float64(i)/4)*plotH
		if f.logY {
			v = math.Pow(10, v)
		}
		fmt.Fprintf(b, `<line class="grid" x1="%d" x2="%g" y1="%.1f" y2="%.1f"/><text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, padL+plotW, y, y, padL-4, y+4, fmtTick(v))
	}
	for i := 0; i <= 4; i++ { // x ticks
		v := f.xmin + (f.xmax-f.xmin)*float64(i)/4
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>`, padL+plotW*float64(i)/4, chartH-padB+14, fmtTick(v))
	}
	fmt.Fprintf(b, `<text class="axis" x="%g" y="%d" text-anchor="middle">%s</text>`, padL+plotW/2, chartH-4, template.HTMLEscapeString(c.XLabel))
	if f.logY {
		fmt.Fprintf(b, `<text class="axis" x="%d" y="%d" text-anchor="end">log scale</text>`, chartW-padR, 16)
	}
}

// line writes one series: a polyline, and a dot per point with Markers.
func (c chart) line(b *strings.Builder, f frame, s series, color string) {
	n := 0
	var pts strings.Builder
	for i := range s.X {
		if !finite(s.X[i]) || !finite(s.Y[i]) {
			continue
		}
		if n > 0 {
			pts.WriteByte(' ')
		}
		pts.WriteString(strconv.FormatFloat(f.px(s.X[i]), 'f', 1, 64))
		pts.WriteByte(',')
		pts.WriteString(strconv.FormatFloat(f.py(s.Y[i]), 'f', 1, 64))
		n++
	}
	fmt.Fprintf(b, `<polyline class="series" data-series="%s" data-points="%d" fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`,
		template.HTMLEscapeString(s.Name), n, color, pts.String())
	if c.Markers {
		for i := range s.X {
			if finite(s.X[i]) && finite(s.Y[i]) {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %s</title></circle>`,
					f.px(s.X[i]), f.py(s.Y[i]), color, fmtTick(s.X[i]), fmtTick(s.Y[i]))
			}
		}
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// fmtTick formats an axis label in at most 4 significant digits.
func fmtTick(v float64) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	if a >= 1e5 || a < 1e-3 {
		return strconv.FormatFloat(v, 'e', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
