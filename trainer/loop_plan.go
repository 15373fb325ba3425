package trainer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
)

// now is the time a run's windows and holdout are measured back from.
func (j *job) now() time.Time {
	if j.opt.Now != nil {
		return j.opt.Now()
	}
	return time.Now()
}

// sourceRanges returns the offsets [from, to) a topic source reads in each
// partition, as from, to and window say; nil when it reads every partition
// whole (from earliest to latest).
func (j *job) sourceRanges(ctx context.Context, s Source) (map[int][2]int64, error) {
	bounded := (s.From != "" && s.From != "earliest") || (s.To != "" && s.To != "latest")
	if !bounded && !s.Window.given() {
		return nil, nil
	}
	info, err := j.opt.Log.Describe(ctx, s.Topic)
	if err != nil {
		return nil, fmt.Errorf("trainer: describe source topic %s: %w", s.Topic, cluster.LogUnavailable(ctx, err))
	}
	ranges := map[int][2]int64{}
	for _, p := range info.Partitions {
		from, to := p.Earliest, p.Latest
		if s.From != "" && s.From != "earliest" {
			from, _ = strconv.ParseInt(s.From, 10, 64)
			from = max(from, p.Earliest)
		}
		if s.To != "" && s.To != "latest" {
			to, _ = strconv.ParseInt(s.To, 10, 64)
			to = min(to, p.Latest)
		}
		from = min(from, to)
		if s.Window.given() {
			if from, err = j.windowStart(ctx, s.Topic, p.ID, s.Window, from, to); err != nil {
				return nil, err
			}
		}
		ranges[p.ID] = [2]int64{from, to}
	}
	return ranges, nil
}

// windowStart returns the first offset of partition p's records [from, to)
// that window w keeps: the last w.Records of them, or those whose log time
// is at most w.Last before the run's start.
func (j *job) windowStart(ctx context.Context, topic string, p int, w *Window, from, to int64) (int64, error) {
	if w.Records > 0 {
		return max(from, to-w.Records), nil
	}
	off, err := j.opt.Log.OffsetForTime(ctx, topic, p, j.now().Add(-w.Last))
	if err != nil {
		return 0, fmt.Errorf("trainer: look up the offset of %s/%d at %v ago: %w", topic, p, w.Last, cluster.LogUnavailable(ctx, err))
	}
	return min(max(off, from), to), nil
}

// planHoldout plans a promoted job's source: the training records, and
// the most recent records of each partition, which promote.holdout keeps
// out of training for the comparison of the new version with the one
// behind the alias.
func (j *job) planHoldout(ctx context.Context) (train, holdout []cluster.Source, err error) {
	s := j.spec.Source
	ranges, err := j.sourceRanges(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if ranges == nil {
		info, err := j.opt.Log.Describe(ctx, s.Topic)
		if err != nil {
			return nil, nil, fmt.Errorf("trainer: describe source topic %s: %w", s.Topic, cluster.LogUnavailable(ctx, err))
		}
		ranges = wholeTopic(info)
	}
	trainR, holdR := map[int][2]int64{}, map[int][2]int64{}
	for p, r := range ranges {
		cut, err := j.windowStart(ctx, s.Topic, p, &j.spec.Promote.Holdout, r[0], r[1])
		if err != nil {
			return nil, nil, err
		}
		trainR[p], holdR[p] = [2]int64{r[0], cut}, [2]int64{cut, r[1]}
	}
	if train, err = cluster.PlanLog(ctx, j.opt.Log, s.Topic, cluster.LogOptions{Split: s.Split, Ranges: trainR}); err != nil {
		return nil, nil, err
	}
	if holdout, err = cluster.PlanLog(ctx, j.opt.Log, s.Topic, cluster.LogOptions{Ranges: holdR}); err != nil {
		return nil, nil, err
	}
	return train, holdout, nil
}

func wholeTopic(info log.TopicInfo) map[int][2]int64 {
	r := make(map[int][2]int64, len(info.Partitions))
	for _, p := range info.Partitions {
		r[p.ID] = [2]int64{p.Earliest, p.Latest}
	}
	return r
}
