package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/log"
)

// featureDef is one feature definition as the features page shows it: its
// features, its processor's lag and the freshness of its table.
type featureDef struct {
	Name, Source, Key, Table, Group string
	Features                        []featureRow
	Partitions                      []featurePart
	Lag                             int64
	Newest                          time.Time     // log time of the table's newest record
	Age                             time.Duration // since Newest
	Err                             string
}

type featureRow struct{ Name, Aggregate, Window string }

type featurePart struct {
	ID             int
	End, Committed int64
	Lag            int64
	HasCommitted   bool
}

// featureLookup is a key's current values in a definition's table.
type featureLookup struct {
	Def, Key   string
	Found      bool
	StreamTime time.Time
	Values     []featureValue
	Err        string
}

type featureValue struct {
	Name  string
	Value string
}

type featuresData struct {
	Defs   []featureDef
	Lookup *featureLookup
}

func (c *Console) featuresList() (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d featuresData
	for _, def := range c.cfg.Features {
		d.Defs = append(d.Defs, c.featureDef(ctx, def))
	}
	return d, nil
}

// featureDef reads a definition's lag (the processor's group on its
// source) and its table's freshness from the log.
func (c *Console) featureDef(ctx context.Context, def *stream.Definition) featureDef {
	fd := featureDef{Name: def.Name, Source: def.EventTopic(), Key: def.Source.Key,
		Table: "features." + def.Name + ".table", Group: "features." + def.Name}
	for _, f := range def.Features {
		agg := f.Aggregate.String()
		if f.Field != "" {
			agg += "(" + f.Field + ")"
		}
		win := f.Window.Kind.String() + " " + fmtDur(time.Duration(f.Window.Size)*time.Millisecond)
		if f.Window.Kind == stream.Sliding || f.Window.Kind == stream.Hopping {
			win += " by " + fmtDur(time.Duration(f.Window.Step)*time.Millisecond)
		}
		fd.Features = append(fd.Features, featureRow{f.Name, agg, win})
	}
	info, err := c.cfg.Log.Describe(ctx, fd.Source)
	if err != nil {
		fd.Err = err.Error()
		return fd
	}
	committed, err := c.cfg.Log.Committed(ctx, fd.Group, fd.Source)
	if err != nil {
		fd.Err = err.Error()
		return fd
	}
	for _, p := range info.Partitions {
		fp := featurePart{ID: p.ID, End: p.Latest}
		fp.Committed, fp.HasCommitted = committed[p.ID]
		from := fp.Committed
		if !fp.HasCommitted {
			from = p.Earliest
		}
		fp.Lag = max(p.Latest-from, 0)
		fd.Lag += fp.Lag
		fd.Partitions = append(fd.Partitions, fp)
	}
	if table, err := c.cfg.Log.Describe(ctx, fd.Table); err == nil {
		for _, p := range table.Partitions {
			if p.Latest <= p.Earliest {
				continue
			}
			recs, err := c.cfg.Log.Read(ctx, fd.Table, p.ID, p.Latest-1, log.ReadOptions{MaxRecords: 1})
			if err == nil && len(recs) > 0 && recs[0].Time.After(fd.Newest) {
				fd.Newest = recs[0].Time
			}
		}
		if !fd.Newest.IsZero() {
			fd.Age = time.Since(fd.Newest)
		}
	}
	return fd
}

// lookup reads a key's newest values from a definition's feature table.
func (c *Console) lookup(ctx context.Context, name, key string) *featureLookup {
	l := &featureLookup{Def: name, Key: key}
	var def *stream.Definition
	for _, d := range c.cfg.Features {
		if d.Name == name {
			def = d
		}
	}
	if def == nil {
		l.Err = "no feature definition " + strconv.Quote(name)
		return l
	}
	v, _, ok, err := stream.LatestValue(ctx, c.cfg.Log, "features."+def.Name+".table", key)
	switch {
	case err != nil:
		l.Err = err.Error()
	case !ok:
		l.Err = "key " + strconv.Quote(key) + " has no value in the feature table"
	case len(v.Values) != len(def.Features):
		l.Err = "the table's record has " + strconv.Itoa(len(v.Values)) + " values; the definition has " + strconv.Itoa(len(def.Features)) + " features"
	default:
		l.Found, l.StreamTime = true, time.UnixMilli(v.Time).UTC()
		for i, f := range def.Features {
			l.Values = append(l.Values, featureValue{f.Name, strconv.FormatFloat(v.Values[i], 'g', -1, 64)})
		}
	}
	return l
}

func (c *Console) featuresPage(w http.ResponseWriter, r *http.Request, s Scope) {
	d, _ := c.featuresList()
	fd := d.(featuresData)
	if key := r.URL.Query().Get("key"); key != "" {
		fd.Lookup = c.lookup(r.Context(), r.URL.Query().Get("def"), key)
	}
	v := c.view("Features", "features", s, fd)
	v.Events = c.cfg.Prefix + "/features/events"
	c.render(w, "features", v)
}

func (c *Console) featuresEvents(w http.ResponseWriter, r *http.Request, _ Scope) {
	c.pollEvents(w, r, "features", "features-table", c.featuresList)
}
