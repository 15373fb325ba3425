package remote

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flintml/flint/cluster/remote/remotepb"
)

// Why a worker was declared dead (WorkerInfo.Reason, and the "reason"
// label of the losses metric).
const (
	lossHeartbeat  = "heartbeat"  // no heartbeat for Config.HeartbeatTimeout
	lossConnection = "connection" // a call could not reach it, or it registered again
	lossLeft       = "left"       // it said it was stopping
)

// regKey is the metadata key of the registration a driver→worker call is
// made under: "EPOCH/WORKER_ID".
const regKey = "flint-registration"

func registration(epoch, id string) string { return epoch + "/" + id }

// Members lists the workers the driver knows, in registration order: the
// live ones and those that died less than Config.DeadGrace ago.
func (d *Driver) Members() []WorkerInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]WorkerInfo, 0, len(d.workers))
	for _, w := range d.workers {
		if !w.joined {
			continue
		}
		info := WorkerInfo{ID: w.id, Name: w.name, Addr: w.addr, Alive: !w.dead, Reason: w.reason,
			CachedBytes: w.cached, MemoryLimit: w.limit, HeapLiveBytes: w.heapLive, LastHeartbeat: w.last,
			TasksRunning: w.running, TasksCompleted: w.completed, TasksFailed: w.failedTasks, Events: w.events.list()}
		if w.dead {
			info.CachedBytes, info.HeapLiveBytes = 0, 0
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i].ID, out[j].ID) })
	return out
}

func idLess(a, b string) bool { return len(a) < len(b) || (len(a) == len(b) && a < b) }

// WaitWorkers waits until at least n workers are alive.
func (d *Driver) WaitWorkers(ctx context.Context, n int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		d.mu.Lock()
		live := len(d.live)
		d.mu.Unlock()
		if live >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remote: waiting for %d workers (%d alive): %w", n, live, ctx.Err())
		case <-t.C:
		}
	}
}

// Register implements remotepb.DriverServer. The worker is live from its
// first heartbeat on, once it holds the registration this returns.
func (d *Driver) Register(_ context.Context, req *remotepb.RegisterRequest) (*remotepb.RegisterReply, error) {
	if req.Addr == "" || req.Incarnation == "" {
		return nil, status.Errorf(codes.InvalidArgument, "remote: register of worker %q at %q: the address and incarnation must not be empty", req.Name, req.Addr)
	}
	d.mu.Lock()
	d.nextID++
	id := fmt.Sprintf("w%d", d.nextID)
	d.mu.Unlock()
	reg := registration(d.epoch, id)
	withReg := grpc.WithUnaryInterceptor(func(ctx context.Context, method string, in, out any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoke(metadata.AppendToOutgoingContext(ctx, regKey, reg), method, in, out, cc, opts...)
	})
	conn, err := grpc.NewClient(req.Addr, append(dialOptions(d.cfg.Secret), d.dial, withReg,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)))...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "remote: register %s: %v", req.Addr, err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		conn.Close()
		return nil, status.Error(codes.Unavailable, "remote: driver closed")
	}
	var stale *worker // an earlier registration of the same process
	for _, x := range d.live {
		if x.incarnation == req.Incarnation {
			stale = x
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.workers[id] = &worker{id: id, name: req.Name, addr: req.Addr, incarnation: req.Incarnation, conn: conn,
		client: remotepb.NewWorkerClient(conn), ctx: ctx, cancel: cancel, last: time.Now(), limit: req.MemoryLimit, cached: req.CachedBytes}
	d.mu.Unlock()
	if stale != nil {
		d.markDead(stale, lossConnection, "the worker registered again as "+id)
	}
	return &remotepb.RegisterReply{WorkerId: id, Epoch: d.epoch, HeartbeatIntervalMs: d.cfg.HeartbeatInterval.Milliseconds()}, nil
}

// Heartbeat implements remotepb.DriverServer. A heartbeat of a
// registration this driver does not hold alive — another driver's epoch, a
// worker declared dead, another process's incarnation — gets Known=false.
func (d *Driver) Heartbeat(_ context.Context, req *remotepb.HeartbeatRequest) (*remotepb.HeartbeatReply, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, ok := d.workers[req.WorkerId]
	if req.Epoch != d.epoch || !ok || w.dead || w.incarnation != req.Incarnation {
		return &remotepb.HeartbeatReply{Known: false}, nil
	}
	w.last, w.cached, w.limit, w.heapLive = time.Now(), req.CachedBytes, req.MemoryLimit, req.HeapLiveBytes
	if !w.joined {
		w.joined = true
		at := sort.Search(len(d.live), func(i int) bool { return idLess(w.id, d.live[i].id) })
		d.live = slices.Insert(d.live, at, w) // in registration order
		w.events.add(WorkerEvent{At: w.last, Kind: EventJoined, Text: fmt.Sprintf("%s at %s joined", w.name, w.addr)})
		d.cfg.Logger.Info("remote: worker joined", "worker", w.id, "name", w.name, "addr", w.addr, "memory_limit", w.limit, "live", len(d.live))
	}
	return &remotepb.HeartbeatReply{Known: true}, nil
}

// Leave implements remotepb.DriverServer: the worker stops counting at once
// and its partitions move to the survivors at the next call that uses them.
func (d *Driver) Leave(_ context.Context, req *remotepb.LeaveRequest) (*remotepb.LeaveReply, error) {
	d.mu.Lock()
	w, ok := d.workers[req.WorkerId]
	d.mu.Unlock()
	if req.Epoch == d.epoch && ok && w.incarnation == req.Incarnation {
		d.markDead(w, lossLeft, "the worker is stopping")
	}
	return &remotepb.LeaveReply{}, nil
}

// monitor declares dead the workers whose heartbeats stopped, forgets the
// registrations never followed by a heartbeat, and forgets dead workers
// after Config.DeadGrace.
func (d *Driver) monitor(ctx context.Context) {
	t := time.NewTicker(max(d.cfg.HeartbeatInterval/2, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.mu.Lock()
			var late []*worker
			for id, w := range d.workers {
				switch {
				case !w.dead && now.Sub(w.last) > d.cfg.HeartbeatTimeout && w.joined:
					late = append(late, w)
				case !w.dead && now.Sub(w.last) > d.cfg.HeartbeatTimeout:
					delete(d.workers, id) // registered, never heard of again
					w.cancel()
					w.conn.Close()
				case w.dead && now.Sub(w.died) > d.cfg.DeadGrace:
					delete(d.workers, id)
				}
			}
			d.mu.Unlock()
			for _, w := range late {
				d.markDead(w, lossHeartbeat, fmt.Sprintf("no heartbeat for %v", d.cfg.HeartbeatTimeout))
			}
		}
	}
}

// markDead removes w from the live workers and cancels its calls. reason
// is one of the loss* constants; why says more, for the log.
func (d *Driver) markDead(w *worker, reason, why string) {
	d.mu.Lock()
	if w.dead {
		d.mu.Unlock()
		return
	}
	w.dead, w.reason, w.died = true, reason, time.Now()
	if reason == lossLeft {
		w.events.add(WorkerEvent{At: w.died, Kind: EventLeft, Text: why})
	} else {
		w.events.add(WorkerEvent{At: w.died, Kind: EventLost, Text: reason + ": " + why})
	}
	for i, x := range d.live {
		if x == w {
			d.live = append(d.live[:i:i], d.live[i+1:]...)
			break
		}
	}
	if d.cfg.DeadGrace < 0 {
		delete(d.workers, w.id)
	}
	live := len(d.live)
	d.mu.Unlock()
	w.cancel()
	w.conn.Close()
	d.metrics.losses.WithLabelValues(reason).Inc()
	if reason == lossLeft {
		d.cfg.Logger.Info("remote: worker left; its partitions move to the survivors", "worker", w.id, "name", w.name, "live", live)
		return
	}
	d.cfg.Logger.Warn("remote: worker lost; its partitions move to the survivors", "worker", w.id, "name", w.name, "reason", reason, "why", why, "live", live)
}

// failed reports whether err from a call to w means w is gone (and marks it
// dead), as opposed to an error of the task or the data: w cannot be
// reached, or it holds another registration than the one called.
func (d *Driver) failed(w *worker, err error) bool {
	if w.ctx.Err() != nil {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable:
		d.markDead(w, lossConnection, err.Error())
		return true
	case codes.FailedPrecondition:
		d.markDead(w, lossConnection, "it no longer holds this registration: "+status.Convert(err).Message())
		return true
	}
	return false
}

// awaitLive returns at once while a worker is alive; otherwise it waits up
// to Config.WorkerWait for one to join, and fails with ErrNoWorkers.
func (d *Driver) awaitLive(ctx context.Context) error {
	d.mu.Lock()
	live := len(d.live)
	d.mu.Unlock()
	if live > 0 {
		return nil
	}
	if d.cfg.WorkerWait < 0 {
		return ErrNoWorkers
	}
	d.cfg.Logger.Warn("remote: no live workers; waiting for one to join", "for", d.cfg.WorkerWait)
	wctx, cancel := context.WithTimeout(ctx, d.cfg.WorkerWait)
	defer cancel()
	if err := d.WaitWorkers(wctx, 1); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w (none joined within %v)", ErrNoWorkers, d.cfg.WorkerWait)
	}
	return nil
}
