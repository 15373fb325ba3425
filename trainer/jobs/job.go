package jobs

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flintml/flint/trainer"
)

// Job is a training job the Manager knows: what was submitted, where it
// is, and what it produced. It is also the JSON record the manager keeps
// in the store under jobs/<id>.json and the body the HTTP API returns.
type Job struct {
	// ID is unique in the store and sorts in submission order, e.g.
	// "20260412-153012-0001" (UTC time of submission, then a counter).
	ID string `json:"id"`
	// Name is the spec's name.
	Name string `json:"name"`
	// File is the file name the spec's problems were reported against.
	File string `json:"file"`
	// Spec is the YAML text submitted. Lists and event streams leave it out.
	Spec string `json:"spec,omitempty"`
	// Trigger is set on a run of a triggered job (a spec with a trigger):
	// why it ran, e.g. "1000 new records" or "10m0s since the last run".
	Trigger   string    `json:"trigger,omitempty"`
	State     State     `json:"state"`
	Submitted time.Time `json:"submitted"`
	// Started is when the latest attempt started.
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Phase is what the job is doing, e.g. "fitting feature transforms".
	Phase string `json:"phase,omitempty"`
	// Progress is the latest optimiser iteration reported.
	Progress *Progress `json:"progress,omitempty"`
	// CancelRequested is set when a running job has been asked to stop;
	// it becomes canceled when it has.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Error says why a job failed or was canceled.
	Error  string  `json:"error,omitempty"`
	Result *Result `json:"result,omitempty"`
	// Attempts counts the runs started: 1, plus one for every time a
	// driver restart interrupted the job and a new driver resumed it, and
	// one for every retry.
	Attempts int `json:"attempts"`
	// Retries counts the attempts started again, from the job's newest
	// checkpoint, after one failed for a transient reason (no live worker,
	// a log that could not be reached or did not answer in time).
	Retries int `json:"retries,omitempty"`
	// LastError is the error of the latest attempt that failed for a
	// transient reason and was retried.
	LastError string `json:"last_error,omitempty"`
	// NextAttempt is when the next attempt starts, while the job waits to
	// retry.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// Progress is one optimiser iteration of a job.
type Progress struct {
	// Trial is 0 for the final fit and i > 0 for grid point i.
	Trial    int   `json:"trial,omitempty"`
	Iter     int   `json:"iter"`
	MaxIter  int   `json:"max_iter"`
	Loss     Float `json:"loss"`
	GradNorm Float `json:"grad_norm"`
	// Step is the step length the iteration took (ml.Progress.Step); 0,
	// and left out, where it took none.
	Step Float `json:"step,omitempty"`
	// ElapsedSec is the seconds since this fit started.
	ElapsedSec float64 `json:"elapsed_s"`
}

// Result is what a succeeded job published: the JSON form of trainer.Result.
type Result struct {
	Model       string             `json:"model"`
	Version     int                `json:"version"`
	Alias       string             `json:"alias,omitempty"`
	AliasHeld   string             `json:"alias_held,omitempty"`
	Algorithm   string             `json:"algorithm"`
	Metrics     map[string]Float   `json:"metrics"`
	Best        map[string]float64 `json:"best,omitempty"`
	Trials      []trainer.Trial    `json:"trials,omitempty"`
	Refit       bool               `json:"refit,omitempty"`
	EvaluatedOn string             `json:"evaluated_on,omitempty"`
	Iterations  int                `json:"iterations"`
	Stop        string             `json:"stop,omitempty"`
	Rows        int                `json:"rows"`
	TrainRows   int                `json:"train_rows"`
	TestRows    int                `json:"test_rows"`
	Skipped     int                `json:"skipped,omitempty"`
	DeadLetter  int                `json:"dead_letter,omitempty"`
	DurationSec float64            `json:"duration_s"`
	// WarmStart is the fit's warm start and the iterations it saved.
	WarmStart *trainer.WarmStart `json:"warm_start,omitempty"`
	// Promotion is the champion/challenger comparison and its outcome.
	Promotion *Promotion `json:"promotion,omitempty"`
}

// Promotion is the JSON form of trainer.Promotion.
type Promotion struct {
	Alias           string  `json:"alias"`
	Metric          string  `json:"metric"`
	Margin          float64 `json:"margin"`
	Champion        int     `json:"champion,omitempty"`
	ChampionValue   Float   `json:"champion_value"`
	ChallengerValue Float   `json:"challenger_value"`
	LargerIsBetter  bool    `json:"larger_is_better"`
	Rows            int     `json:"rows"`
	Promoted        bool    `json:"promoted"`
	Reason          string  `json:"reason"`
}

func newPromotion(p *trainer.Promotion) *Promotion {
	if p == nil {
		return nil
	}
	return &Promotion{Alias: p.Alias, Metric: p.Metric, Margin: p.Margin, Champion: p.Champion, ChampionValue: Float(p.ChampionValue),
		ChallengerValue: Float(p.ChallengerValue), LargerIsBetter: p.LargerIsBetter, Rows: p.Rows, Promoted: p.Promoted, Reason: p.Reason}
}

func (p *Promotion) promotion() *trainer.Promotion {
	if p == nil {
		return nil
	}
	return &trainer.Promotion{Alias: p.Alias, Metric: p.Metric, Margin: p.Margin, Champion: p.Champion, ChampionValue: float64(p.ChampionValue),
		ChallengerValue: float64(p.ChallengerValue), LargerIsBetter: p.LargerIsBetter, Rows: p.Rows, Promoted: p.Promoted, Reason: p.Reason}
}

func newResult(r *trainer.Result) *Result {
	m := make(map[string]Float, len(r.Metrics))
	for k, v := range r.Metrics {
		m[k] = Float(v)
	}
	return &Result{Model: r.Model, Version: r.Version, Alias: r.Alias, AliasHeld: r.AliasHeld, Algorithm: r.Algorithm,
		Metrics: m, Best: r.Best, Trials: r.Trials, Refit: r.Refit, EvaluatedOn: r.EvaluatedOn, Iterations: r.Iterations, Stop: r.Stop,
		Rows: r.Rows, TrainRows: r.TrainRows, TestRows: r.TestRows, Skipped: r.Skipped,
		DeadLetter: r.DeadLetter, DurationSec: r.Duration.Seconds(), WarmStart: r.WarmStart, Promotion: newPromotion(r.Promotion)}
}

// Result converts back to a trainer.Result (without the lineage, which is
// stored with the model), e.g. for printing a summary.
func (r *Result) Result() *trainer.Result {
	m := make(map[string]float64, len(r.Metrics))
	for k, v := range r.Metrics {
		m[k] = float64(v)
	}
	return &trainer.Result{Model: r.Model, Version: r.Version, Alias: r.Alias, AliasHeld: r.AliasHeld, Algorithm: r.Algorithm,
		Metrics: m, Best: r.Best, Trials: r.Trials, Refit: r.Refit, EvaluatedOn: r.EvaluatedOn, Iterations: r.Iterations, Stop: r.Stop,
		Rows: r.Rows, TrainRows: r.TrainRows, TestRows: r.TestRows, Skipped: r.Skipped,
		DeadLetter: r.DeadLetter, Duration: time.Duration(r.DurationSec * float64(time.Second)), WarmStart: r.WarmStart, Promotion: r.Promotion.promotion()}
}

// Float is a float64 that encodes NaN and ±Inf (a diverged loss, an
// undefined metric) as JSON null, which decodes back as NaN.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// nextID returns an id greater than every id of this form seen: the UTC
// second of now and a counter within it (the last id's second when the
// clock went back). Called with m.mu held.
func (m *Manager) nextID(now time.Time) string {
	t, n := now.UTC().Truncate(time.Second), 1
	if lt, ln, ok := parseJobID(m.lastID); ok && !lt.Before(t) {
		t, n = lt, ln+1
		if n > maxIDSeq {
			t, n = t.Add(time.Second), 1
		}
	}
	id := fmt.Sprintf("%s-%04d", t.Format(idTimeLayout), n)
	m.lastID = id
	return id
}

const (
	idTimeLayout = "20060102-150405"
	maxIDSeq     = 9999
)

// parseJobID splits an id made by nextID into its second and counter.
func parseJobID(id string) (time.Time, int, bool) {
	stamp, seq, ok := cutLast(id, "-")
	if !ok || len(seq) != 4 {
		return time.Time{}, 0, false
	}
	t, err := time.Parse(idTimeLayout, stamp)
	n, err2 := strconv.Atoi(seq)
	if err != nil || err2 != nil || n < 1 {
		return time.Time{}, 0, false
	}
	return t, n, true
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
