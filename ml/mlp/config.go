package mlp

import (
	"fmt"
	"math"
	"time"

	"github.com/flintml/flint/ml"
)

// Activation is the non-linearity applied after every hidden layer.
type Activation string

// The hidden-layer activations.
const (
	ReLU    Activation = "relu"    // max(0, x)
	Tanh    Activation = "tanh"    // tanh(x)
	Sigmoid Activation = "sigmoid" // 1/(1+e^-x)
)

func (a Activation) valid() bool { return a == ReLU || a == Tanh || a == Sigmoid }

// Output is the output layer and, with it, the loss.
type Output string

// The output layers.
const (
	// Softmax: one output per class, softmax probabilities, cross-entropy
	// loss. Labels are class indices 0, 1, ..., Classes-1.
	Softmax Output = "softmax"
	// Identity: one linear output, squared loss ½(f(x)−y)². Labels are
	// real-valued targets (regression).
	Identity Output = "identity"
)

func (o Output) valid() bool { return o == Softmax || o == Identity }

// Optimizer names the update rule the driver applies to the averaged
// mini-batch gradient.
type Optimizer string

// The optimisers.
const (
	Adam Optimizer = "adam" // Kingma & Ba, with bias correction
	SGD  Optimizer = "sgd"  // mini-batch SGD with (optional) momentum
)

// Config configures Train. Zero fields take the defaults given. A Config is
// read, never modified, by Train.
type Config struct {
	// Hidden lists the widths of the hidden layers, input side first.
	// nil means one hidden layer of 100 units; an empty non-nil slice means
	// no hidden layer (a linear model trained the same way).
	Hidden []int
	// Activation of the hidden layers. "" means ReLU.
	Activation Activation
	// Output layer and loss. "" means Softmax (classification).
	Output Output
	// Classes is the number of classes for Softmax. 0 means one more than
	// the largest label in the data, which must then be at least 1.
	Classes int

	// L2 is the strength λ of the penalty λ/2·‖W‖² on the connection
	// weights (not the biases), added to the mean loss. 0 means none.
	L2 float64

	// Optimizer is Adam (default) or SGD.
	Optimizer Optimizer
	// LearningRate is the step size. 0 means 0.001 for Adam and 0.01 for
	// SGD.
	LearningRate float64
	// Momentum is SGD's momentum μ in [0, 1): v ← μv − η·g, w ← w + v.
	// 0 means plain SGD; 0.9 is the usual choice.
	Momentum float64
	// Beta1, Beta2 and Epsilon are Adam's constants. 0 means 0.9, 0.999
	// and 1e-8.
	Beta1, Beta2, Epsilon float64

	// BatchSize is the number of rows in each iteration's mini-batch,
	// summed over all partitions. Each partition contributes a share in
	// proportion to its rows (at least one row from every non-empty
	// partition). 0 means 200; a batch at least as large as the dataset
	// means full-batch gradient descent.
	BatchSize int
	// Epochs bounds training to this many passes over the data; one epoch
	// is ⌈rows/BatchSize⌉ iterations. 0 means 20.
	Epochs int
	// MaxIter additionally bounds the number of iterations. 0 means no
	// bound beyond Epochs.
	MaxIter int
	// Tol ends training when the mean training loss of an epoch has not
	// fallen by more than Tol below the best epoch so far for Patience
	// epochs in a row. 0 means 1e-4; a negative Tol turns the test off.
	Tol float64
	// Patience is the number of epochs without improvement that Tol
	// allows. 0 means 10.
	Patience int

	// Seed makes initialisation and mini-batch sampling reproducible: the
	// same seed, data and partitioning give bit-identical weights for any
	// number of workers.
	Seed uint64

	// Progress, if not nil, is called after every iteration, on the
	// goroutine that called Train; the last call says why training
	// stopped (Progress.Stop). It should return quickly.
	Progress func(Progress)

	// InitialParams, when not nil, are the starting weights and biases
	// (Model.Params layout) instead of the seeded random draw: a warm
	// start from an earlier network of the same layer sizes. Train fails,
	// naming both lengths, when it does not fit the network. Resume, when
	// set too, takes precedence.
	InitialParams []float64

	// Checkpointing (CheckpointEvery, Checkpoint, Resume) hands the run's
	// State to Checkpoint after every CheckpointEvery-th iteration that
	// does not end training, on the goroutine that called Train, and
	// continues a run from one: its weights, optimiser moments, iteration
	// and epoch bookkeeping. The layer sizes (features, Hidden, classes),
	// Activation, Output, Optimizer, Seed, the dataset's rows and the
	// mini-batch size must be those of the run that wrote it; otherwise
	// Train fails with an error naming the mismatch. Progress goes on
	// numbering iterations from the state's, and the result is bit for bit
	// the uninterrupted run's.
	ml.Checkpointing[State]
}

// Progress reports one training iteration.
type Progress struct {
	Iteration int           // 1-based
	Epoch     int           // 0-based epoch the iteration belongs to
	Rows      int           // rows in this iteration's mini-batch
	Loss      float64       // mean loss of the mini-batch, including the L2 penalty
	Elapsed   time.Duration // since Train started
	// Stop is empty on every report but the last of a run, where it says
	// in one phrase why training stopped: "converged: the mean epoch loss
	// fell no more than tol 0.0001 below its best (0.3127) for 10
	// epochs", "max_iter 500 reached" or "epochs 20 reached". (An
	// iteration whose mini-batch weighs nothing is not reported; when
	// that is the last, no report has a Stop.)
	Stop string
}

func (c Config) withDefaults() Config {
	if c.Hidden == nil {
		c.Hidden = []int{100}
	}
	if c.Activation == "" {
		c.Activation = ReLU
	}
	if c.Output == "" {
		c.Output = Softmax
	}
	if c.Optimizer == "" {
		c.Optimizer = Adam
	}
	if c.LearningRate == 0 {
		c.LearningRate = 0.001
		if c.Optimizer == SGD {
			c.LearningRate = 0.01
		}
	}
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Epsilon == 0 {
		c.Epsilon = 1e-8
	}
	if c.BatchSize == 0 {
		c.BatchSize = 200
	}
	if c.Epochs == 0 {
		c.Epochs = 20
	}
	if c.Tol == 0 {
		c.Tol = 1e-4
	}
	if c.Patience == 0 {
		c.Patience = 10
	}
	return c
}

// validate checks a Config that has had its defaults applied. Each error
// names the field and the value found.
func (c Config) validate() error {
	for i, h := range c.Hidden {
		if h <= 0 {
			return fmt.Errorf("mlp: Config.Hidden[%d]: layer width must be > 0, got %d", i, h)
		}
	}
	if !c.Activation.valid() {
		return fmt.Errorf("mlp: Config.Activation: want %q, %q or %q, got %q", ReLU, Tanh, Sigmoid, c.Activation)
	}
	if !c.Output.valid() {
		return fmt.Errorf("mlp: Config.Output: want %q or %q, got %q", Softmax, Identity, c.Output)
	}
	if c.Classes < 0 {
		return fmt.Errorf("mlp: Config.Classes: must be >= 0, got %d", c.Classes)
	}
	if c.Output == Identity && c.Classes != 0 {
		return fmt.Errorf("mlp: Config.Classes: must be 0 with Output %q (regression), got %d", Identity, c.Classes)
	}
	if c.Output == Softmax && c.Classes == 1 {
		return fmt.Errorf("mlp: Config.Classes: need at least 2 classes, got 1")
	}
	if !(c.L2 >= 0) || math.IsInf(c.L2, 0) {
		return fmt.Errorf("mlp: Config.L2: must be a finite value >= 0, got %v", c.L2)
	}
	if c.Optimizer != Adam && c.Optimizer != SGD {
		return fmt.Errorf("mlp: Config.Optimizer: want %q or %q, got %q", Adam, SGD, c.Optimizer)
	}
	if !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0) {
		return fmt.Errorf("mlp: Config.LearningRate: must be a finite value > 0, got %v", c.LearningRate)
	}
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		return fmt.Errorf("mlp: Config.Momentum: must be in [0, 1), got %v", c.Momentum)
	}
	if c.Momentum != 0 && c.Optimizer != SGD {
		return fmt.Errorf("mlp: Config.Momentum: only used by Optimizer %q, but Optimizer is %q", SGD, c.Optimizer)
	}
	if !(c.Beta1 > 0 && c.Beta1 < 1) {
		return fmt.Errorf("mlp: Config.Beta1: must be in (0, 1), got %v", c.Beta1)
	}
	if !(c.Beta2 > 0 && c.Beta2 < 1) {
		return fmt.Errorf("mlp: Config.Beta2: must be in (0, 1), got %v", c.Beta2)
	}
	if !(c.Epsilon > 0) || math.IsInf(c.Epsilon, 0) {
		return fmt.Errorf("mlp: Config.Epsilon: must be a finite value > 0, got %v", c.Epsilon)
	}
	if c.BatchSize < 0 {
		return fmt.Errorf("mlp: Config.BatchSize: must be >= 0, got %d", c.BatchSize)
	}
	if c.Epochs < 0 {
		return fmt.Errorf("mlp: Config.Epochs: must be >= 0, got %d", c.Epochs)
	}
	if c.MaxIter < 0 {
		return fmt.Errorf("mlp: Config.MaxIter: must be >= 0, got %d", c.MaxIter)
	}
	if math.IsNaN(c.Tol) {
		return fmt.Errorf("mlp: Config.Tol: must be a number, got NaN")
	}
	if c.Patience < 0 {
		return fmt.Errorf("mlp: Config.Patience: must be >= 0, got %d", c.Patience)
	}
	if err := c.ValidateCheckpointing("Config"); err != nil {
		return fmt.Errorf("mlp: %w", err)
	}
	return nil
}
