package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/flintml/flint/log"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchapi "github.com/segmentio/kafka-go/protocol/fetch"
)

const (
	// maxWaitChunk bounds how long one fetch request parks at the broker.
	// A longer ReadOptions.Wait is served by several fetches, so a canceled
	// read holds its connection for at most this long.
	maxWaitChunk = 5 * time.Second
	// retryBackoff is the first pause before retrying a request that met
	// stale metadata (a moved leader); it doubles up to maxRetryBackoff.
	retryBackoff    = 25 * time.Millisecond
	maxRetryBackoff = 500 * time.Millisecond
)

// fetchPart is one partition of a fetch request.
type fetchPart struct {
	tp     log.TopicPartition
	offset int64
	leader int // broker ID of the partition's leader
}

// fetched is what a fetch returned for one partition.
type fetched struct {
	tp     log.TopicPartition
	offset int64 // the offset asked for
	err    error // Kafka's error for the partition, nil if none
	hwm    int64 // high watermark
	recs   []log.Record
}

// fetch sends one Fetch request per leader among parts and decodes the
// records at or after each part's offset. With minBytes 0 the brokers answer
// at once; with minBytes > 0 they wait up to maxWait for data, and fetch
// returns as soon as one leader answers with records. A part that no leader
// answered for is absent from the result. in, for a read of one partition
// (nil otherwise), is where the records go.
func (l *Log) fetch(ctx context.Context, parts []fetchPart, minBytes int, maxWait time.Duration, lim limits, in *into) ([]fetched, error) {
	byLeader := map[int][]fetchPart{}
	var leaders []int
	for _, p := range parts {
		if _, ok := byLeader[p.leader]; !ok {
			leaders = append(leaders, p.leader)
		}
		byLeader[p.leader] = append(byLeader[p.leader], p)
	}
	if len(leaders) == 1 {
		return l.fetchFrom(ctx, byLeader[leaders[0]], minBytes, maxWait, lim, in)
	}
	if in != nil {
		return nil, errors.New("fetch: a read's records for parts on several leaders")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		res []fetched
		err error
	}
	answers := make(chan answer, len(leaders))
	var wg sync.WaitGroup
	for _, id := range leaders {
		wg.Go(func() {
			res, err := l.fetchFrom(ctx, byLeader[id], minBytes, maxWait, lim, nil)
			answers <- answer{res, err}
		})
	}
	var out []fetched
	var errs []error
	for range leaders {
		a := <-answers
		out = append(out, a.res...)
		if a.err != nil && ctx.Err() == nil {
			errs = append(errs, a.err)
		}
		if minBytes > 0 && hasRecords(a.res) {
			cancel() // the other leaders' waits are no longer needed
		}
	}
	wg.Wait()
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func hasRecords(fs []fetched) bool {
	for _, f := range fs {
		if len(f.recs) > 0 {
			return true
		}
	}
	return false
}

// into is where the fetches of one Read put its records: their bytes in
// the read's arena, whose first chunk is ReadOptions.Buffer, and the
// records after the read's so far, in ReadOptions.Records' memory, so that
// neither is allocated again per fetch, nor per read by a caller that
// passes both again.
type into struct {
	a   arena
	out []log.Record // the read's records so far
}

// fetchFrom sends one Fetch request for parts, which share a leader.
func (l *Log) fetchFrom(ctx context.Context, parts []fetchPart, minBytes int, maxWait time.Duration, lim limits, in *into) ([]fetched, error) {
	maxBytes := l.fetchBytes(lim)
	if dl, ok := ctx.Deadline(); ok {
		// The connection's deadline is the context's; answer before it.
		maxWait = min(maxWait, time.Until(dl)*9/10)
	}
	req := &fetchapi.Request{
		ReplicaID:    -1,
		MaxWaitTime:  int32(max(maxWait, 0) / time.Millisecond),
		MinBytes:     int32(minBytes),
		MaxBytes:     int32(maxBytes),
		SessionID:    -1,
		SessionEpoch: -1,
	}
	idx := map[string]int{}
	for _, p := range parts {
		i, ok := idx[p.tp.Topic]
		if !ok {
			i = len(req.Topics)
			idx[p.tp.Topic] = i
			req.Topics = append(req.Topics, fetchapi.RequestTopic{Topic: p.tp.Topic})
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, fetchapi.RequestPartition{
			Partition:          int32(p.tp.Partition),
			CurrentLeaderEpoch: -1,
			FetchOffset:        p.offset,
			LogStartOffset:     -1,
			PartitionMaxBytes:  int32(maxBytes),
		})
	}
	m, err := l.client.Transport.RoundTrip(ctx, l.addr, req)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	res, ok := m.(*fetchapi.Response)
	if !ok {
		return nil, fmt.Errorf("fetch: unexpected response %T", m)
	}
	if res.ErrorCode != 0 {
		return nil, fmt.Errorf("fetch: %w", kafkago.Error(res.ErrorCode))
	}
	want := map[log.TopicPartition]int64{}
	for _, p := range parts {
		want[p.tp] = p.offset
	}
	var out []fetched
	a := new(arena)
	var dst []log.Record
	if in != nil {
		a, dst = &in.a, in.out[len(in.out):]
	}
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			tp := log.TopicPartition{Topic: rt.Topic, Partition: int(rp.Partition)}
			off, ok := want[tp]
			if !ok {
				continue
			}
			f := fetched{tp: tp, offset: off, hwm: rp.HighWatermark}
			if rp.ErrorCode != 0 {
				f.err = kafkago.Error(rp.ErrorCode)
			} else if f.recs, err = a.decode(dst, tp, off, rp.RecordSet.Records, lim); err != nil {
				return nil, fmt.Errorf("fetch %s at offset %d: decode records: %w", tp, off, err)
			}
			l.noteSizes(f.recs)
			out = append(out, f)
		}
	}
	return out, nil
}

// arena hands out the byte slices of the records of one fetch from a few
// large buffers, instead of one allocation per key, value and header.
type arena struct{ buf []byte }

// take returns the next n bytes of the arena.
//
// The slice is never nil, even for n == 0: slicing a nil buffer (a fresh
// arena, so the first field of a fetch) would give nil, and turn an empty
// key, value or header value into a null one.
func (a *arena) take(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	if n > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, max(n, 64<<10))
	}
	b := a.buf[len(a.buf) : len(a.buf)+n : len(a.buf)+n]
	a.buf = a.buf[:len(a.buf)+n]
	return b
}

// bytes copies b into the arena; a null field stays nil, an empty one
// becomes an empty, non-nil slice (Kafka tells them apart).
func (a *arena) bytes(b protocol.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	s := a.take(b.Len())
	_, err := io.ReadFull(b, s)
	return s, err
}

func (a *arena) copy(b []byte) []byte {
	if b == nil {
		return nil
	}
	s := a.take(len(b))
	copy(s, b)
	return s
}

// limits bounds what a read returns: at most records records, and payload
// bytes (log.Record.Size) up to bytes, except that the first record always
// comes.
type limits struct{ records, bytes int }

// decode appends to dst the records of rr at or after offset, stopping
// once a record takes them past lim: the caller trims that last one.
func (a *arena) decode(dst []log.Record, tp log.TopicPartition, offset int64, rr protocol.RecordReader, lim limits) ([]log.Record, error) {
	if rr == nil {
		return dst, nil
	}
	out := dst
	size := 0
	for len(out)-len(dst) < lim.records && size <= lim.bytes {
		r, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if len(out) > len(dst) && errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil // a batch cut at the response's size limit
			}
			return out, err
		}
		if r.Offset < offset {
			continue // a batch may start before the offset asked for
		}
		rec := log.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: r.Offset, Time: msTime(r.Time)}
		if rec.Key, err = a.bytes(r.Key); err != nil {
			return out, err
		}
		if rec.Value, err = a.bytes(r.Value); err != nil {
			return out, err
		}
		if len(r.Headers) > 0 {
			rec.Headers = make([]log.Header, len(r.Headers))
			for i, h := range r.Headers {
				rec.Headers[i] = log.Header{Key: h.Key, Value: a.copy(h.Value)}
			}
		}
		out = append(out, rec)
		size += rec.Size()
	}
	return out, nil
}

// msTime is t at Kafka's precision, milliseconds, in the local time zone:
// what a record's time reads back as.
func msTime(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

// fetchBytes is the byte limit sent to the broker for a read within lim:
// enough for lim.records records of the size records have had lately, with
// room for the framing, but no more than lim.bytes of payload needs. A
// guess that is short costs another fetch; one that is long, bytes sent and
// decoded for nothing.
func (l *Log) fetchBytes(lim limits) int {
	const perRecord = 70 // record and amortized batch framing, and slack
	est := lim.records * (int(l.recordSize.Load()) + perRecord)
	return min(max(min(est, lim.bytes+lim.bytes/4), 64<<10), 64<<20)
}

// noteSizes folds the payload sizes of recs into l.recordSize, the running
// average that fetchBytes estimates with. Concurrent updates may lose one
// another's contribution; it is an estimate.
func (l *Log) noteSizes(recs []log.Record) {
	if len(recs) == 0 {
		return
	}
	total := 0
	for i := range recs {
		total += recs[i].Size()
	}
	old := l.recordSize.Load()
	l.recordSize.Store((7*old + int64(total/len(recs))) / 8)
}

// staleMetadata reports whether err means the request went to the wrong
// broker or could not be routed because the transport's view of the
// cluster is out of date: the partition was not touched, and the request
// can be sent again after a refresh.
func staleMetadata(err error) bool {
	for _, e := range []error{
		protocol.ErrNoTopic, protocol.ErrNoPartition, protocol.ErrNoLeader,
		kafkago.NotLeaderForPartition, kafkago.LeaderNotAvailable, kafkago.BrokerNotAvailable,
		kafkago.FencedLeaderEpoch, kafkago.UnknownLeaderEpoch, kafkago.KafkaStorageError,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// connectionLost reports whether err is a broken or refused connection: a
// pooled connection the broker closed, or a broker restarting.
func connectionLost(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &ne)
}

// pause waits d or until ctx ends, and doubles d up to maxRetryBackoff.
func pause(ctx context.Context, d *time.Duration) error {
	t := time.NewTimer(*d)
	defer t.Stop()
	*d = min(2**d, maxRetryBackoff)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Read returns records of one partition from offset on (see log.Log). A
// read at the high watermark is a Fetch that the broker parks for up to
// opt.Wait; the records' byte slices share a few buffers per call, the
// first of them opt.Buffer, and the records are appended to opt.Records
// (both as log.ReadOptions allows).
func (l *Log) Read(ctx context.Context, topic string, partition int, offset int64, opt log.ReadOptions) ([]log.Record, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	opt = opt.WithDefaults()
	t, err := l.partitionMeta(ctx, topic, partition)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, l.outOfRange(ctx, topic, partition, offset)
	}
	var waitUntil time.Time
	if opt.Wait > 0 {
		waitUntil = time.Now().Add(opt.Wait)
	}
	tp := log.TopicPartition{Topic: topic, Partition: partition}
	leader := t.Partitions[partition].Leader.ID
	backoff, begun := retryBackoff, time.Now()
	in := &into{a: arena{buf: opt.Buffer[:0]}}
	out := opt.Records[:0]
	size := 0
	next := offset
	for {
		var minBytes int
		var wait time.Duration
		if len(out) == 0 && opt.Wait > 0 {
			if wait = min(time.Until(waitUntil), maxWaitChunk); wait <= 0 {
				return nil, nil
			}
			minBytes = 1
		}
		rctx, stop := l.bound(ctx, wait+l.cfg.RequestTimeout)
		sent := time.Now()
		in.out = out
		res, err := l.fetch(rctx, []fetchPart{{tp: tp, offset: next, leader: leader}}, minBytes, wait, limits{opt.MaxRecords - len(out), opt.MaxBytes - size}, in)
		stop()
		var f fetched
		if err == nil {
			if len(res) != 1 {
				err = fmt.Errorf("broker did not answer for %s", tp)
			} else {
				f = res[0]
				err = f.err
			}
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil, fmt.Errorf("kafka: read %s at offset %d: %w", tp, next, ctx.Err())
		case errors.Is(err, kafkago.OffsetOutOfRange):
			if len(out) > 0 {
				return out, nil // retention moved past what was read meanwhile
			}
			return nil, l.outOfRange(ctx, topic, partition, next)
		case (staleMetadata(err) || connectionLost(err) || errors.Is(err, kafkago.UnknownTopicOrPartition)) && time.Since(begun) < l.cfg.RequestTimeout:
			// The leader moved, the topic was deleted, or a pooled
			// connection died: look again. Reads are safe to repeat.
			l.logger.Debug("retrying fetch", "partition", tp.String(), "offset", next, "err", err)
			l.refresh(sent)
			if t, err = l.partitionMeta(ctx, topic, partition); err != nil {
				return nil, err
			}
			leader = t.Partitions[partition].Leader.ID
			if err := pause(ctx, &backoff); err != nil {
				return nil, fmt.Errorf("kafka: read %s at offset %d: %w", tp, next, err)
			}
			continue
		default:
			return nil, fmt.Errorf("kafka: read %s at offset %d: %w", tp, next, err)
		}

		// f.recs were decoded into out's memory after its records while
		// it had room, so appending them there copies each onto itself;
		// a read with no records yet takes f.recs' memory (out's own when
		// they fitted, else the array decode grew), copying none.
		if len(out) == 0 {
			out = f.recs[:0]
		}
		for _, r := range f.recs {
			if len(out) > 0 && (len(out) >= opt.MaxRecords || size+r.Size() > opt.MaxBytes) {
				return out, nil
			}
			out = append(out, r)
			size += r.Size()
			next = r.Offset + 1
		}
		switch {
		case len(out) >= opt.MaxRecords || size >= opt.MaxBytes:
			return out, nil
		case len(f.recs) == 0 && len(out) > 0:
			return out, nil
		case len(f.recs) == 0 && next < f.hwm:
			// Nothing decodable below the high watermark (only control
			// records, say): report none rather than spin.
			return nil, nil
		case len(out) > 0 && next >= f.hwm:
			return out, nil
		case len(out) == 0 && opt.Wait <= 0:
			return nil, nil
		}
	}
}
