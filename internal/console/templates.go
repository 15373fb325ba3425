package console

import (
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flintml/flint/trainer/jobs"
)

// pageNames are the page templates under assets/pages; each is parsed with
// assets/base.html, which defines "base" and calls the page's "content".
var pageNames = []string{"login", "error", "jobs", "job", "models", "model", "compare", "log", "topic", "workers", "serving", "features"}

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"dur":   fmtDur,
	"num":   fmtNum,
	"bytes": fmtBytes,
	"join":  strings.Join,
	"add":   func(a, b int) int { return a + b },
	"sub":   func(a, b int64) int64 { return a - b },
	"ms":    func(s float64) string { return strconv.FormatFloat(s*1000, 'f', 2, 64) },
	"pct":   func(f float64) string { return strconv.FormatFloat(f*100, 'f', 2, 64) + "%" },
	"rate":  func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("base.html").Funcs(funcs).ParseFS(assets, "assets/base.html")
	if err != nil {
		return nil, fmt.Errorf("console: parse assets/base.html: %w", err)
	}
	out := make(map[string]*template.Template, len(pageNames))
	for _, n := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(assets, "assets/pages/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parse assets/pages/%s.html: %w", n, err)
		}
		out[n] = t
	}
	if _, err := fs.Stat(assets, "assets/static/console.js"); err != nil {
		return nil, fmt.Errorf("console: embedded assets: %w", err)
	}
	return out, nil
}

// fmtDur formats a duration to a precision a person reads: 850ms, 12.3s, 4m05s, 2h07m.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// fmtNum formats a metric or loss in 6 significant digits; NaN and ±Inf as words.
func fmtNum(v any) string {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case jobs.Float:
		f = float64(x)
	case float32:
		f = float64(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	default:
		if fl, ok := v.(interface{ Float() float64 }); ok {
			f = fl.Float()
		} else {
			return fmt.Sprint(v)
		}
	}
	if math.IsNaN(f) {
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
