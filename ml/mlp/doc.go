// Package mlp trains multilayer perceptrons — fully connected networks with
// ReLU, tanh or sigmoid hidden layers and a softmax (classification) or
// identity (regression) output — data-parallel on Flint's cluster engine,
// with gradients from gorgonia's automatic differentiation.
//
// # Training
//
// Train runs mini-batch optimisation on a cached cluster.Dataset. Every
// iteration:
//
//  1. The driver broadcasts the flat parameter vector (Model.Params layout).
//  2. Each partition draws its share of the mini-batch — shares are fixed
//     for the run, in proportion to the partitions' rows — as a slice of a
//     permutation of its rows seeded by (Config.Seed, epoch, partition), so
//     that over an epoch it visits each row about once.
//  3. It copies those rows into a gorgonia graph compiled for this
//     architecture and batch shape, and runs it. The graph yields the
//     summed, sample-weighted loss Σ rᵢℓᵢ of the rows plus the L2 term
//     scaled by their weight, (λ/2)(Σ rᵢ)‖W‖², and the gradient of that
//     sum (gorgonia.Grad, run on a TapeMachine).
//  4. The engine adds the partitions' sums in its fixed tree
//     (cluster.Aggregate); the driver divides by the batch's total weight
//     Σ rᵢ, which gives the gradient of the mean loss plus (λ/2)‖W‖², and
//     takes an Adam or SGD-with-momentum step.
//
// Training stops after Config.Epochs epochs, Config.MaxIter iterations,
// when the mean loss of an epoch has not improved by Config.Tol for
// Config.Patience epochs, or when the context is cancelled. The trainer
// talks to the engine only through cluster.Executor and registered tasks
// ("ml.mlp.scan", "ml.mlp.step"), whose broadcasts and partials encode with
// encoding/gob: it cannot tell whether workers are goroutines or processes.
//
// # Checkpoints
//
// Config.CheckpointEvery and Config.Checkpoint hand the run's State to the
// caller every few iterations, and Config.Resume continues a run from one,
// for a driver restarted after a crash. Mini-batches are drawn from
// permutations seeded by (seed, epoch, partition), and the epoch and the
// position in it follow from the iteration number, so there is no
// generator state to keep: the state is the weights, Adam's moments and
// step count (or SGD's velocity), the iteration, and the epoch loss and
// Tol counters, and a resumed run ends bit for bit like the uninterrupted
// one, Progress numbering included. State.MarshalBinary encodes it in ml's
// versioned checkpoint envelope ("FLST", algorithm "mlp"); resuming checks
// the layer sizes, activation, output, optimiser, seed, rows and batch
// size, and names what differs.
//
// # Graphs
//
// Building, differentiating and compiling a graph is not free (rebuilding
// it every iteration made 64-row steps of a 784-128-10 network about 1.5×
// slower on two cores), so compiled graphs are kept in a process-wide
// cache keyed by architecture and batch rows, and reused by every iteration
// and training run with that shape; a graph is used by one partition at a
// time. Only the nodes the loss and the weight gradients need are compiled
// (gorgonia.CompileFunction): differentiating also creates the gradient
// with respect to the inputs, which would otherwise cost one more large
// matrix product per iteration. Idle graphs are dropped after a minute, and
// the cache holds at most 64 graphs and about 1 GiB.
//
// # Determinism
//
// Within a partition the graph's arithmetic is sequential or split into
// fixed blocks, and the partitions' sums combine in the engine's fixed tree,
// so a Config.Seed, the data and its partitioning determine the weights bit
// for bit, whatever the number of workers. Re-partitioning the same rows
// changes the mini-batches and so the result.
//
// # Prediction
//
// A trained Model is a plain value: layer sizes, activation, output and the
// flat weights. Predict, PredictBatch and Classify run the forward pass in
// Go over those weights (with gonum's matrix product), so serving needs
// neither gorgonia nor the engine; tests check it against gorgonia's
// forward pass. MarshalBinary writes a versioned, checksummed encoding (see
// encoding.go) that UnmarshalBinary reads back.
package mlp
