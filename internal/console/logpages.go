package console

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
)

type topicRow struct {
	log.TopicInfo
	Records int64 // retained, over every partition
	Err     string
	sizes
}

// sizes are the bytes a topic's partitions take in the log's storage, as
// log.Sizer reports them; -1 is unknown.
type sizes struct {
	Sizes    []int64 // by partition
	Total    int64   // -1 when any partition's size is unknown
	SizeNote string  // why sizes are unknown, when they are
}

// partitionSizes asks the log for the size of each of the n partitions of
// topic. A log that is no log.Sizer, or that fails to answer, gives every
// partition -1 ("unknown" on the page, never 0) and a note saying why.
func (c *Console) partitionSizes(ctx context.Context, topic string, n int) sizes {
	s := sizes{Sizes: make([]int64, n)}
	var got []int64
	sz, ok := c.cfg.Log.(log.Sizer)
	if !ok {
		s.SizeNote = "this log does not report sizes"
	} else if v, err := sz.PartitionSizes(ctx, topic); err != nil {
		s.SizeNote = err.Error()
	} else {
		got = v
	}
	for i := range s.Sizes {
		s.Sizes[i] = -1
		if i < len(got) {
			s.Sizes[i] = got[i]
		}
		if s.Sizes[i] < 0 {
			s.Total = -1
		} else if s.Total >= 0 {
			s.Total += s.Sizes[i]
		}
	}
	if s.Total < 0 && s.SizeNote == "" {
		s.SizeNote = "the log did not give the size of every partition"
	}
	return s
}

// groupLag is one consumer group's position in one topic.
type groupLag struct {
	Group, Topic string
	Partitions   []partitionLag
	Total        int64
}

// partitionLag is computed as flint log groups does: latest - committed,
// or latest - earliest for a partition the group never committed.
type partitionLag struct {
	ID        int
	Committed int64
	HasCommit bool
	Latest    int64
	Lag       int64
}

type logData struct {
	Prefix string
	Topics []topicRow
	Groups []groupLag
	Idle   []string // groups with no committed offset in any topic
}

func (c *Console) logPage(w http.ResponseWriter, r *http.Request, s Scope) {
	ctx := r.Context()
	names, err := c.cfg.Log.Topics(ctx)
	if err != nil {
		c.fail(w, r, s, http.StatusBadGateway, fmt.Errorf("list the log's topics: %w", err))
		return
	}
	d := logData{Prefix: c.cfg.Prefix}
	for _, n := range names {
		info, err := c.cfg.Log.Describe(ctx, n)
		row := topicRow{TopicInfo: info}
		row.Name = n
		if err != nil {
			row.Err = err.Error()
		}
		for _, p := range info.Partitions {
			row.Records += p.Latest - p.Earliest
		}
		if err == nil {
			row.sizes = c.partitionSizes(ctx, n, len(info.Partitions))
		}
		d.Topics = append(d.Topics, row)
	}
	groups, err := c.cfg.Log.Groups(ctx)
	if err != nil {
		c.fail(w, r, s, http.StatusBadGateway, fmt.Errorf("list the log's consumer groups: %w", err))
		return
	}
	for _, g := range groups {
		any := false
		for _, t := range d.Topics {
			committed, err := c.cfg.Log.Committed(ctx, g, t.Name)
			if err != nil || len(committed) == 0 {
				continue
			}
			any = true
			gl := groupLag{Group: g, Topic: t.Name}
			for _, p := range t.Partitions {
				pl := partitionLag{ID: p.ID, Latest: p.Latest}
				pl.Committed, pl.HasCommit = committed[p.ID]
				if pl.HasCommit {
					pl.Lag = p.Latest - pl.Committed
				} else {
					pl.Lag = p.Latest - p.Earliest
				}
				gl.Total += pl.Lag
				gl.Partitions = append(gl.Partitions, pl)
			}
			d.Groups = append(d.Groups, gl)
		}
		if !any {
			d.Idle = append(d.Idle, g)
		}
	}
	c.render(w, "log", c.view("Log", "log", s, d))
}

type topicData struct {
	Prefix    string
	Info      log.TopicInfo
	Partition int
	From      int64
	At        string
	Max       int
	Records   []recordRow
	Next      int64
	Err       string
	sizes
	Schema *topicSchema // nil when no schema of the topic is known
}

type recordRow struct {
	Offset  int64
	Time    time.Time
	Key     string
	Value   string
	Size    int
	Decoded decodedRecord // with Schema
}

const maxShown = 2048 // bytes of a key or value shown

func (c *Console) topicPage(w http.ResponseWriter, r *http.Request, s Scope) {
	ctx := r.Context()
	topic := r.PathValue("topic")
	info, err := c.cfg.Log.Describe(ctx, topic)
	if errors.Is(err, log.ErrUnknownTopic) {
		c.fail(w, r, s, http.StatusNotFound, fmt.Errorf("no topic %q in the log", topic))
		return
	}
	if err != nil {
		c.fail(w, r, s, http.StatusBadGateway, fmt.Errorf("describe topic %q: %w", topic, err))
		return
	}
	q := r.URL.Query()
	d := topicData{Prefix: c.cfg.Prefix, Info: info, Max: 50, At: q.Get("time"), sizes: c.partitionSizes(ctx, topic, len(info.Partitions))}
	if v := q.Get("partition"); v != "" {
		if d.Partition, err = strconv.Atoi(v); err != nil || d.Partition < 0 || d.Partition >= len(info.Partitions) {
			c.fail(w, r, s, http.StatusBadRequest, fmt.Errorf("topic %s: ?partition=%q: want 0 to %d", topic, v, len(info.Partitions)-1))
			return
		}
	}
	if v := q.Get("max"); v != "" {
		if d.Max, err = strconv.Atoi(v); err != nil || d.Max < 1 || d.Max > 1000 {
			c.fail(w, r, s, http.StatusBadRequest, fmt.Errorf("topic %s: ?max=%q: want 1 to 1000", topic, v))
			return
		}
	}
	if len(info.Partitions) == 0 {
		c.render(w, "topic", c.view("Topic "+topic, "log", s, d))
		return
	}
	p := info.Partitions[d.Partition]
	d.From = p.Earliest
	switch {
	case q.Get("offset") != "":
		if d.From, err = strconv.ParseInt(q.Get("offset"), 10, 64); err != nil {
			c.fail(w, r, s, http.StatusBadRequest, fmt.Errorf("topic %s: ?offset=%q is not a number", topic, q.Get("offset")))
			return
		}
	case d.At != "":
		t, err := time.Parse(time.RFC3339, d.At)
		if err != nil {
			c.fail(w, r, s, http.StatusBadRequest, fmt.Errorf("topic %s: ?time=%q: want RFC 3339, e.g. 2026-12-07T14:00:00Z", topic, d.At))
			return
		}
		if d.From, err = c.cfg.Log.OffsetForTime(ctx, topic, d.Partition, t); err != nil {
			c.fail(w, r, s, http.StatusBadGateway, fmt.Errorf("topic %s/%d: offset at %s: %w", topic, d.Partition, d.At, err))
			return
		}
	}
	d.Next = d.From
	if d.From < p.Latest {
		recs, err := c.cfg.Log.Read(ctx, topic, d.Partition, d.From, log.ReadOptions{MaxRecords: d.Max})
		if err != nil {
			d.Err = err.Error()
		}
		var row features.Row
		if d.Schema = c.schemaFor(topic); d.Schema != nil {
			row = d.Schema.Schema.NewRow()
		}
		for i := range recs {
			rec := &recs[i]
			rr := recordRow{Offset: rec.Offset, Time: rec.Time, Key: showBytes(rec.Key), Value: showBytes(rec.Value), Size: rec.Size()}
			if d.Schema != nil {
				rr.Decoded = decode(&d.Schema.Schema, row, rec)
			}
			d.Records = append(d.Records, rr)
			d.Next = rec.Offset + 1
		}
	}
	c.render(w, "topic", c.view("Topic "+topic, "log", s, d))
}

// showBytes shows text as text and anything else as hex, clipped.
func showBytes(b []byte) string {
	if b == nil {
		return "null"
	}
	clipped := ""
	if len(b) > maxShown {
		b, clipped = b[:maxShown], fmt.Sprintf("… (%d bytes more)", len(b)-maxShown)
	}
	if utf8.Valid(b) {
		return string(b) + clipped
	}
	return "0x" + hex.EncodeToString(b) + clipped
}
