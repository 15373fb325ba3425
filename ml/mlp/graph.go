package mlp

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// netGraph is one compiled gorgonia expression graph for a network of a
// given architecture over a mini-batch of a fixed number of rows: inputs,
// targets, row weights and parameters are bound once to tensors this
// struct owns, and every run only rewrites their contents. The graph
// computes
//
//	loss = Σᵢ rᵢ·ℓ(f(xᵢ), tᵢ) + c·Σₗ ‖Wₗ‖²
//
// and its gradient with respect to every weight and bias, by gorgonia's
// symbolic differentiation. ℓ is the softmax cross-entropy −Σₖ tᵢₖ·log pᵢₖ
// against one-hot targets, or ½(f(xᵢ)−tᵢ)²; c is set per run (the trainer
// passes λ/2·Σᵢ rᵢ, so that the penalty sums correctly over partitions).
//
// A netGraph is used by one goroutine at a time.
type netGraph struct {
	key   string
	sizes []int
	out   Output
	rows  int

	g  *G.ExprGraph
	vm G.VM

	x, t, r *tensor.Dense // rows×inputs features, rows×outputs targets, rows weights
	c       *G.F64        // the penalty coefficient, read by the graph at every run
	params  []*tensor.Dense
	// After a run: the loss, the output (log-probabilities for Softmax,
	// predictions for Identity; rows×outputs) and ∂loss/∂params[i].
	loss, output *G.Value
	grads        []*G.Value
	bytes        int64 // rough memory the graph holds, for the cache's budget
	lastUse      time.Time
}

// graphKey identifies the graphs that can be reused for a network and
// batch shape.
func graphKey(sizes []int, act Activation, out Output, rows int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s/%d", act, out, rows)
	for _, s := range sizes {
		fmt.Fprintf(&b, "/%d", s)
	}
	return b.String()
}

// buildMu serialises graph construction: gorgonia does not promise that
// building graphs concurrently is safe (Rectify, for one, starts from a
// package-level constant node), and building is rare.
var buildMu sync.Mutex

// graphBuilds counts the graphs built in this process, so tests can check
// that training reuses them.
var graphBuilds atomic.Int64

// newNetGraph builds and compiles the graph for the network and rows rows.
func newNetGraph(sizes []int, act Activation, out Output, rows int) (ng *netGraph, err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	var ops opChain // the first error of the graph operations
	defer func() {
		if r := recover(); r != nil {
			// An operation that failed returns a nil node, on which the
			// next one may panic: report the failure, not the panic.
			if ops.err != nil {
				ng, err = nil, fmt.Errorf("mlp: build graph for %v over %d rows: %w", sizes, rows, ops.err)
				return
			}
			ng, err = nil, fmt.Errorf("mlp: gorgonia panicked building the graph for %v over %d rows: %v\n%s", sizes, rows, r, debug.Stack())
		}
	}()
	graphBuilds.Add(1)
	if rows <= 0 || len(sizes) < 2 {
		return nil, fmt.Errorf("mlp: cannot build a graph for sizes %v over %d rows", sizes, rows)
	}
	nIn, nOut := sizes[0], sizes[len(sizes)-1]
	ng = &netGraph{
		key:   graphKey(sizes, act, out, rows),
		sizes: append([]int(nil), sizes...),
		out:   out,
		rows:  rows,
		g:     G.NewGraph(),
		x:     tensor.New(tensor.WithShape(rows, nIn), tensor.WithBacking(make([]float64, rows*nIn))),
		t:     tensor.New(tensor.WithShape(rows, nOut), tensor.WithBacking(make([]float64, rows*nOut))),
		r:     tensor.New(tensor.WithShape(rows), tensor.WithBacking(make([]float64, rows))),
		c:     G.NewF64(0),
	}
	g := ng.g
	X := G.NewMatrix(g, G.Float64, G.WithShape(rows, nIn), G.WithName("x"), G.WithValue(ng.x))
	T := G.NewMatrix(g, G.Float64, G.WithShape(rows, nOut), G.WithName("t"), G.WithValue(ng.t))
	R := G.NewVector(g, G.Float64, G.WithShape(rows), G.WithName("r"), G.WithValue(ng.r))
	C := G.NewScalar(g, G.Float64, G.WithName("c"), G.WithValue(ng.c))
	inputs := G.Nodes{X, T, R, C}

	var wrt, penalties G.Nodes
	h := X
	last := len(sizes) - 2
	for l := 0; l <= last; l++ {
		in, o := sizes[l], sizes[l+1]
		wt := tensor.New(tensor.WithShape(in, o), tensor.WithBacking(make([]float64, in*o)))
		bt := tensor.New(tensor.WithShape(1, o), tensor.WithBacking(make([]float64, o)))
		ng.params = append(ng.params, wt, bt)
		W := G.NewMatrix(g, G.Float64, G.WithShape(in, o), G.WithName(fmt.Sprintf("W%d", l)), G.WithValue(wt))
		B := G.NewMatrix(g, G.Float64, G.WithShape(1, o), G.WithName(fmt.Sprintf("b%d", l)), G.WithValue(bt))
		wrt = append(wrt, W, B)
		z := ops.do(G.BroadcastAdd(ops.do(G.Mul(h, W)), B, nil, []byte{0}))
		if l < last {
			switch act {
			case ReLU:
				z = ops.do(G.Rectify(z))
			case Tanh:
				z = ops.do(G.Tanh(z))
			case Sigmoid:
				z = ops.do(G.Sigmoid(z))
			default:
				return nil, fmt.Errorf("mlp: unknown activation %q", act)
			}
		}
		h = z
		penalties = append(penalties, ops.do(G.Sum(ops.do(G.Square(W)))))
	}

	// Per-row loss ℓᵢ, a vector of rows values.
	var rowLoss, output *G.Node
	switch out {
	case Softmax:
		// LogSoftMax is gorgonia's fused, shifted log-softmax with its own
		// backward pass. (Its LogSumExp is not usable: it computes
		// log(Σexp(z−m) + m).) One caveat: in tensor v0.9.24 the shift of
		// each row is max(first element of the whole batch, the row's
		// elements but its first), so only logits hundreds apart overflow;
		// Train reports that as ErrDiverged.
		output = ops.do(G.LogSoftMax(h, 1))
		rowLoss = ops.do(G.Neg(ops.do(G.Sum(ops.do(G.HadamardProd(T, output)), 1))))
	case Identity:
		output = h
		half := G.NewConstant(0.5, G.WithName("half"))
		sq := ops.do(G.Sum(ops.do(G.Square(ops.do(G.Sub(h, T)))), 1))
		rowLoss = ops.do(G.Mul(half, sq))
	default:
		return nil, fmt.Errorf("mlp: unknown output %q", out)
	}
	dataLoss := ops.do(G.Sum(ops.do(G.HadamardProd(R, rowLoss))))
	penalty := penalties[0]
	if len(penalties) > 1 {
		penalty = ops.do(G.ReduceAdd(penalties))
	}
	loss := ops.do(G.Add(dataLoss, ops.do(G.Mul(C, penalty))))
	if ops.err != nil {
		return nil, fmt.Errorf("mlp: build graph for %v over %d rows: %w", sizes, rows, ops.err)
	}
	grads, err := G.Grad(loss, wrt...)
	if err != nil {
		return nil, fmt.Errorf("mlp: differentiate graph for %v over %d rows: %w", sizes, rows, err)
	}
	// The tape machine reuses memory, so a node's value may be overwritten
	// later in the same run (it happened to the Identity output): read
	// nodes copy out the values we need when they are made.
	ng.loss, ng.output = new(G.Value), new(G.Value)
	reads := G.Nodes{G.Read(loss, ng.loss), G.Read(output, ng.output)}
	for _, gn := range grads {
		v := new(G.Value)
		ng.grads = append(ng.grads, v)
		reads = append(reads, G.Read(gn, v))
	}
	// Compile only what the reads need: G.Grad also adds the gradient with
	// respect to the inputs x, which a whole-graph compile would compute,
	// at the cost of another full-size matrix product per iteration.
	prog, locMap, err := G.CompileFunction(g, append(inputs, wrt...), reads)
	if err != nil {
		return nil, fmt.Errorf("mlp: compile graph for %v over %d rows: %w", sizes, rows, err)
	}
	ng.vm = G.NewTapeMachine(g, G.WithPrecompiled(prog, locMap))

	// Values the graph keeps alive: the bound inputs and parameters, and
	// roughly four rows×width activations per layer (forward, backward).
	n := int64(rows) * int64(nIn+nOut+1)
	for l := 1; l < len(sizes); l++ {
		n += 4*int64(rows)*int64(sizes[l]) + 3*int64(sizes[l-1]+1)*int64(sizes[l])
	}
	ng.bytes = 8 * n
	return ng, nil
}

// opChain threads the first error through a sequence of graph operations.
type opChain struct{ err error }

func (c *opChain) do(n *G.Node, err error) *G.Node {
	if c.err == nil && err != nil {
		c.err = err
	}
	return n
}

// setParams copies the flat parameter vector into the graph's parameter
// tensors.
func (ng *netGraph) setParams(params []float64) {
	off := 0
	for _, p := range ng.params {
		d := p.Data().([]float64)
		off += copy(d, params[off:off+len(d)])
	}
}

// run evaluates the graph on whatever its inputs hold now, with penalty
// coefficient c, and returns the loss.
func (ng *netGraph) run(c float64) (loss float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("mlp: gorgonia panicked running the graph for %v over %d rows: %v\n%s", ng.sizes, ng.rows, r, debug.Stack())
		}
	}()
	*ng.c = G.F64(c)
	ng.vm.Reset()
	if err := ng.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("mlp: run graph for %v over %d rows: %w", ng.sizes, ng.rows, err)
	}
	if *ng.loss == nil {
		return 0, fmt.Errorf("mlp: graph for %v over %d rows produced no loss", ng.sizes, ng.rows)
	}
	v, ok := (*ng.loss).Data().(float64)
	if !ok {
		return 0, fmt.Errorf("mlp: graph loss is %T, want float64", (*ng.loss).Data())
	}
	return v, nil
}

// addGrad adds the gradient of the last run into dst, a flat parameter
// vector.
func (ng *netGraph) addGrad(dst []float64) error {
	off := 0
	for i, gv := range ng.grads {
		v := *gv
		if v == nil {
			return fmt.Errorf("mlp: gradient %d of the graph for %v has no value", i, ng.sizes)
		}
		d, ok := v.Data().([]float64)
		if !ok || len(d) != ng.params[i].Size() {
			return fmt.Errorf("mlp: gradient %d of the graph for %v is %T of shape %v, want %v", i, ng.sizes, v.Data(), v.Shape(), ng.params[i].Shape())
		}
		for j, g := range d {
			dst[off+j] += g
		}
		off += len(d)
	}
	return nil
}

// graphCache keeps idle compiled graphs for reuse across iterations and
// training runs. It is process-wide because tasks are package-level
// functions that run wherever the partition lives (a worker goroutine here,
// or a worker process); each graph is used by one task at a time. It holds
// at most maxGraphs graphs and maxGraphBytes of their memory, dropping the
// least recently used first, and drops graphs idle for graphIdle.
type graphCache struct {
	mu    sync.Mutex // guards idle and bytes
	idle  []*netGraph
	bytes int64
}

const (
	maxGraphs     = 64
	maxGraphBytes = 1 << 30
	graphIdle     = time.Minute
)

var graphs graphCache

// get returns an idle graph for the network and batch shape, building one
// if there is none. Give it back with put.
func (c *graphCache) get(sizes []int, act Activation, out Output, rows int) (*netGraph, error) {
	key := graphKey(sizes, act, out, rows)
	c.mu.Lock()
	c.expire(time.Now())
	for i := len(c.idle) - 1; i >= 0; i-- {
		if ng := c.idle[i]; ng.key == key {
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			c.bytes -= ng.bytes
			c.mu.Unlock()
			return ng, nil
		}
	}
	c.mu.Unlock()
	return newNetGraph(sizes, act, out, rows)
}

// put returns a graph to the cache.
func (c *graphCache) put(ng *netGraph) {
	now := time.Now()
	ng.lastUse = now
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = append(c.idle, ng)
	c.bytes += ng.bytes
	for len(c.idle) > maxGraphs || (c.bytes > maxGraphBytes && len(c.idle) > 1) {
		c.bytes -= c.idle[0].bytes
		c.idle[0] = nil
		c.idle = c.idle[1:]
	}
	c.expire(now)
}

// expire drops graphs idle for longer than graphIdle. c.mu is held.
func (c *graphCache) expire(now time.Time) {
	n := 0
	for n < len(c.idle) && now.Sub(c.idle[n].lastUse) > graphIdle {
		c.bytes -= c.idle[n].bytes
		c.idle[n] = nil
		n++
	}
	c.idle = c.idle[n:]
}
