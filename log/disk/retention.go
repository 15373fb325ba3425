package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// EnforceRetention applies every topic's retention now, as the background
// goroutine does every Config.RetentionCheck. A read-only log refuses it
// with ErrReadOnly: the writer applies retention.
func (l *Log) EnforceRetention(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.begin(); err != nil {
		return err
	}
	defer l.end()
	if l.cfg.ReadOnly {
		return refuse("enforce retention")
	}
	return l.enforceRetention(ctx, time.Now())
}

func (l *Log) retentionLoop(ctx context.Context) {
	defer l.wg.Done()
	tick := time.NewTicker(l.cfg.RetentionCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := l.enforceRetention(ctx, time.Now()); err != nil && ctx.Err() == nil {
			l.logger.Error("disk: retention", "err", err)
		}
	}
}

func (l *Log) enforceRetention(ctx context.Context, now time.Time) error {
	l.mu.RLock()
	topics := make([]*topic, 0, len(l.topics))
	for _, t := range l.topics {
		if t.cfg.RetentionAge > 0 || t.cfg.RetentionBytes > 0 {
			topics = append(topics, t)
		}
	}
	l.mu.RUnlock()
	var errs []error
	for _, t := range topics {
		for _, p := range t.parts {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := p.applyRetention(t.cfg.RetentionAge, t.cfg.RetentionBytes, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// applyRetention removes the oldest whole segments of the partition while
// their newest record is older than age, or while the partition holds more
// than limit bytes; 0 disables either rule. The active segment is never
// removed, but when age applies and every record in it has expired it is
// first rolled, so that it can go: the partition is then empty, with its
// earliest offset equal to its high watermark.
func (p *partition) applyRetention(age time.Duration, limit int64, now time.Time) error {
	if p.damaged() != nil {
		return nil // left as it is for repair
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cutoff := now.Add(-age).UnixNano()
	expired := func(s *segment) bool { return age > 0 && s.maxTime < cutoff }
	if act := p.active(); act.size > 0 && expired(act) && p.failed == nil {
		if _, err := p.roll(); err != nil {
			return fmt.Errorf("disk: retention of %s: roll the expired active segment: %w", p, err)
		}
	}
	var total int64
	for _, s := range p.segs {
		total += s.size
	}
	n := 0
	for ; n < len(p.segs)-1; n++ {
		s := p.segs[n]
		if !expired(s) && !(limit > 0 && total > limit) {
			break
		}
		total -= s.size
	}
	if n == 0 {
		return nil
	}
	dead := p.segs[:n]
	p.smu.Lock()
	p.segs = slices.Clone(p.segs[n:])
	p.smu.Unlock()
	var errs []error
	for _, s := range dead {
		// Readers holding s keep reading the unlinked file; the last one
		// closes it.
		idx, tix := segmentIndexPaths(s.path)
		for _, path := range []string{s.path, idx, tix} {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
		s.release()
	}
	if p.l.cfg.Sync != SyncUnsafeNever {
		errs = append(errs, syncDir(p.dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disk: retention of %s: %w", p, err)
	}
	return nil
}
