package models

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// manifestFormat is the manifest layout this package writes and reads.
const manifestFormat = 1

// Manifest is the published state of one model: its versions and aliases.
// Each model has one manifest object in the Store, replaced as a whole by a
// compare-and-swap (Store.PutIf) on every change, so a reader always sees a
// consistent state in which every listed version is completely uploaded.
type Manifest struct {
	Name string
	// Revision is 1 for the first manifest of a model and grows by one with
	// every change; a poller compares it (or Tag) with what it saw last.
	Revision int64
	// Next is the number the next published version gets. It only grows:
	// numbers are never reused, not even after DeleteVersion or DeleteModel.
	Next int
	// Versions are the published versions, in increasing order.
	Versions []VersionInfo
	// Aliases maps alias names to version numbers.
	Aliases map[string]int
	// History is the alias decisions, oldest first: moves, removals, and
	// moves a trainer held back (with why). It is append-only, and keeps
	// the newest MaxHistory, so that a model retrained every hour for
	// years does not make the manifest every server polls grow without
	// bound.
	History []AliasEvent
	// Tag is the Store's tag of the manifest object; it changes whenever
	// the manifest does.
	Tag string

	deleted bool // a tombstone left by DeleteModel, to keep Next
}

// MaxHistory is how many alias decisions a manifest keeps.
const MaxHistory = 1000

// record appends an alias decision to the history, dropping the oldest
// beyond MaxHistory.
func (m *Manifest) record(e AliasEvent) {
	m.History = append(m.History, e)
	if n := len(m.History) - MaxHistory; n > 0 {
		m.History = append(m.History[:0:0], m.History[n:]...)
	}
}

// AliasEvent is one alias decision of a model's history.
type AliasEvent struct {
	Time  time.Time `json:"time"`
	Alias string    `json:"alias"`
	// From is the version the alias pointed at before (0: none), To the
	// version decided on (0: the alias was removed).
	From int `json:"from"`
	To   int `json:"to"`
	// Moved is false for a move held back (a trainer's thresholds failed):
	// the alias stayed at From.
	Moved bool `json:"moved"`
	// Actor says who decided (a job, a command and its user, an API
	// token's scope), Reason why (the metrics against the thresholds, a
	// note given with the command).
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Comparison is the evidence of a champion/challenger decision (a
	// trainer's promote section), whether the alias moved or not; nil for
	// other decisions.
	Comparison *Comparison `json:"comparison,omitempty"`
}

// Comparison is a champion/challenger decision's evidence: the version
// behind the alias (the champion) and the version decided on (the
// challenger, AliasEvent.To) scored by one metric on the same held-out
// rows, and the margin the challenger had to win by.
type Comparison struct {
	Metric string
	// Champion is the version behind the alias when they were compared
	// (0: none, and ChampionValue is NaN).
	Champion        int
	ChampionValue   float64
	ChallengerValue float64
	// Margin is how much better the challenger had to be; LargerIsBetter
	// says which way better is.
	Margin         float64
	LargerIsBetter bool
	// Rows is the number of held-out rows both were scored on, and
	// Holdout the records they came from (e.g. "log clicks/0 offsets
	// [900, 1000)"), never trained on by the challenger.
	Rows    int
	Holdout []string
}

type comparisonJSON struct {
	Metric          string      `json:"metric"`
	Champion        int         `json:"champion,omitempty"`
	ChampionValue   metricValue `json:"champion_value"`
	ChallengerValue metricValue `json:"challenger_value"`
	Margin          float64     `json:"margin"`
	LargerIsBetter  bool        `json:"larger_is_better"`
	Rows            int         `json:"rows"`
	Holdout         []string    `json:"holdout,omitempty"`
}

// MarshalJSON encodes the comparison; a NaN or infinite metric is a
// string, as in the manifest's metrics.
func (c Comparison) MarshalJSON() ([]byte, error) {
	return json.Marshal(comparisonJSON{c.Metric, c.Champion, metricValue(c.ChampionValue), metricValue(c.ChallengerValue),
		c.Margin, c.LargerIsBetter, c.Rows, c.Holdout})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (c *Comparison) UnmarshalJSON(b []byte) error {
	var w comparisonJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Comparison{w.Metric, w.Champion, float64(w.ChampionValue), float64(w.ChallengerValue), w.Margin, w.LargerIsBetter, w.Rows, w.Holdout}
	return nil
}

// VersionInfo describes one published version; the manifest carries it, so
// it costs no artefact download.
type VersionInfo struct {
	Version   int
	Created   time.Time          // Artifact.Created
	Published time.Time          // when Publish uploaded it
	Algorithm string             // Artifact.Algorithm
	Size      int64              // bytes of the encoded artefact
	SHA256    string             // hex; the artefact's checksum trailer
	Metrics   map[string]float64 // Artifact.Metrics
	Blob      string             // the Store key of the artefact
}

// Version returns version v.
func (m *Manifest) Version(v int) (VersionInfo, bool) {
	i, ok := slices.BinarySearchFunc(m.Versions, v, func(vi VersionInfo, v int) int { return vi.Version - v })
	if !ok {
		return VersionInfo{}, false
	}
	return m.Versions[i], true
}

// Latest returns the highest version.
func (m *Manifest) Latest() (VersionInfo, bool) {
	if len(m.Versions) == 0 {
		return VersionInfo{}, false
	}
	return m.Versions[len(m.Versions)-1], true
}

// AliasesOf returns the aliases that point at version v, sorted.
func (m *Manifest) AliasesOf(v int) []string {
	var out []string
	for a, av := range m.Aliases {
		if av == v {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// The manifest's JSON layout. Metrics go through metricValue because JSON
// has no NaN or infinities.
type manifestJSON struct {
	Format   int            `json:"format"`
	Name     string         `json:"name"`
	Revision int64          `json:"revision"`
	Next     int            `json:"next"`
	Deleted  bool           `json:"deleted,omitempty"`
	Versions []versionJSON  `json:"versions"`
	Aliases  map[string]int `json:"aliases"`
	History  []AliasEvent   `json:"history,omitempty"`
}

type versionJSON struct {
	Version   int                    `json:"version"`
	Created   time.Time              `json:"created"`
	Published time.Time              `json:"published"`
	Algorithm string                 `json:"algorithm"`
	Size      int64                  `json:"size"`
	SHA256    string                 `json:"sha256"`
	Metrics   map[string]metricValue `json:"metrics,omitempty"`
	Blob      string                 `json:"blob"`
}

// metricValue is a float64 that encodes NaN and ±Inf as the strings "NaN",
// "+Inf" and "-Inf".
type metricValue float64

func (v metricValue) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (v *metricValue) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*v = metricValue(math.NaN())
	case `"+Inf"`:
		*v = metricValue(math.Inf(1))
	case `"-Inf"`:
		*v = metricValue(math.Inf(-1))
	default:
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return fmt.Errorf("metric value %s: %w", b, err)
		}
		*v = metricValue(f)
	}
	return nil
}

func (m *Manifest) marshal() ([]byte, error) {
	w := manifestJSON{
		Format: manifestFormat, Name: m.Name, Revision: m.Revision, Next: m.Next,
		Deleted: m.deleted, Aliases: m.Aliases, Versions: make([]versionJSON, len(m.Versions)), History: m.History,
	}
	if w.Aliases == nil {
		w.Aliases = map[string]int{}
	}
	for i, v := range m.Versions {
		vj := versionJSON{Version: v.Version, Created: v.Created, Published: v.Published, Algorithm: v.Algorithm,
			Size: v.Size, SHA256: v.SHA256, Blob: v.Blob}
		if len(v.Metrics) > 0 {
			vj.Metrics = make(map[string]metricValue, len(v.Metrics))
			for k, f := range v.Metrics {
				vj.Metrics[k] = metricValue(f)
			}
		}
		w.Versions[i] = vj
	}
	return json.MarshalIndent(w, "", "  ")
}

// unmarshalManifest decodes and checks a manifest read from key for model
// name.
func unmarshalManifest(name, key string, data []byte, tag string) (*Manifest, error) {
	var w manifestJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("models: manifest %s: %w: %v", key, ErrMalformed, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("models: manifest %s: %w: %s", key, ErrMalformed, fmt.Sprintf(format, args...))
	}
	if w.Format != manifestFormat {
		return nil, fmt.Errorf("models: manifest %s: %w %d (this Flint reads %d)", key, ErrUnknownVersion, w.Format, manifestFormat)
	}
	if w.Name != name {
		return nil, bad("names model %q, want %q", w.Name, name)
	}
	m := &Manifest{Name: w.Name, Revision: w.Revision, Next: w.Next, Aliases: w.Aliases, History: w.History, Tag: tag, deleted: w.Deleted}
	if m.Aliases == nil {
		m.Aliases = map[string]int{}
	}
	prev := 0
	for _, vj := range w.Versions {
		if vj.Version <= prev || vj.Version >= w.Next {
			return nil, bad("version %d out of order (previous %d, next %d)", vj.Version, prev, w.Next)
		}
		if err := CheckKey(vj.Blob); err != nil {
			return nil, bad("version %d: %v", vj.Version, err)
		}
		prev = vj.Version
		v := VersionInfo{Version: vj.Version, Created: vj.Created, Published: vj.Published, Algorithm: vj.Algorithm,
			Size: vj.Size, SHA256: vj.SHA256, Blob: vj.Blob}
		if len(vj.Metrics) > 0 {
			v.Metrics = make(map[string]float64, len(vj.Metrics))
			for k, f := range vj.Metrics {
				v.Metrics[k] = float64(f)
			}
		}
		m.Versions = append(m.Versions, v)
	}
	for a, v := range m.Aliases {
		if err := CheckAlias(a); err != nil {
			return nil, bad("%v", err)
		}
		if _, ok := m.Version(v); !ok {
			return nil, bad("alias %q points at missing version %d", a, v)
		}
	}
	return m, nil
}
