// Package ml is Flint's machine learning: optimisers, linear and logistic
// regression, linear SVMs, evaluation metrics and model selection, written
// against the execution engine of package cluster. It knows no YAML, no
// model store and no HTTP; everything here is usable from Go alone.
//
// # How a fit runs
//
// A dataset is cached once as partitions on workers (cluster.Engine, or
// remote workers behind cluster.Executor). A fit is a loop on the driver:
// it broadcasts the current coefficients, every partition computes the loss
// and gradient of its rows (a registered cluster.Task, so remote workers
// find the same code), and the partials come back through the engine's
// fixed-order tree. The optimiser sees only a function and its gradient:
//
//	obj.Eval(ctx, grad, x) → f(x), ∇f(x)   one pass over the data
//
// Because the combine order is fixed by the partitioning, a fit with the
// same data, partitions and seed gives bit-identical coefficients for any
// number of workers, L-BFGS, GD and SGD alike (SGD samples a row when a
// hash of seed, iteration, partition and row falls below the fraction).
// Across machines the last bits may differ: on amd64 with AVX2 and FMA the
// dense kernel of one margin column fuses multiply and add (see Kernels),
// elsewhere it does not; the products of the softmax pass give the same
// bits on every amd64 CPU, with or without AVX-512 or AVX2.
//
// # Optimisers
//
// Minimize runs L-BFGS (gonum's optimize.LBFGS on the driver, each point
// evaluated in one pass), OWL-QN when an L1 term is present, full-batch
// gradient descent with a backtracking line search (proximal with L1), or
// MLlib's mini-batch SGD. Settings gives tolerances, iteration limits and
// a per-iteration Progress callback; cancelling the context stops any of
// them within one pass (for gonum, through Problem.Status).
//
// The code keeps gonum's split of driver and method, one file each:
//
//	optimize.go   the surface: Method, Settings, Progress, Status, Result, Objective, Minimize
//	driver.go     the one loop every method runs in: cancellation, reports, stopping tests
//	              and their reasons, checkpoints, the Result
//	gd.go         gradient descent        ┐ steppers: init from x0 or a State, step to the
//	owlqn.go      OWL-QN                  │ next point, state for a checkpoint
//	sgd.go        mini-batch SGD          ┘
//	lbfgs.go      gonum's L-BFGS, whose Recorder and Converger feed the same reports
//	l1.go         the L1 term's norm, pseudo-gradient and proximal map
//	checkpoint.go State and its encoding;  checkpointing.go  Checkpointing[S]
//
// Every run reports each iteration once, and its last report (Progress.Stop)
// and Result.Stop say why it stopped, with the numbers: "converged:
// relative loss change 4.8e-08 <= tol 1e-06", "max_iter 100 reached",
// "line search failed: the step underflowed". An iteration whose line
// search fails is counted and reported at the point it started from.
//
// # Checkpoints
//
// A long fit can outlive its driver. Settings.CheckpointEvery and
// Settings.Checkpoint hand the optimiser's State to the caller every few
// iterations; State.MarshalBinary encodes it in a versioned envelope
// ("FLST", the layout of the model envelope, naming the method) that a
// store keeps, and Settings.Resume continues a run from it, after checking
// that method, L1 term, dimension and L-BFGS memory match. A state holds
// everything the next iteration reads — the iterate and its gradient, GD's
// trial step, SGD's iteration counter (its step η₀/√t and its sampling hash
// depend on t), OWL-QN's correction pairs — so a resumed GD, SGD or OWL-QN
// run ends bit for bit like the uninterrupted one, history and iteration
// numbers included. gonum's L-BFGS keeps its curvature pairs unexported: a
// resumed L-BFGS restarts from the saved point and rebuilds them, reaching
// the same minimiser by a different path. Packages kmeans, als and mlp
// checkpoint the same way, each with its own State in the same envelope,
// and all four take the same settings: Checkpointing[S], embedded in
// Settings and in their configs.
//
// # Models
//
// LinearRegression (squared loss; normal equations or iterative) and
// LogisticRegression (binomial or multinomial) take MLlib's regParam and
// elasticNetParam, fit an unpenalised intercept, use sample weights
// (cluster.Block.W) and standardise features inside the optimiser: the
// feature means and deviations come from one aggregation, the optimiser
// works on centred and scaled features (virtually: the cached rows are
// never rewritten, so sparse data stays sparse; each pass broadcasts the
// equivalent coefficients of the original features), and the coefficients
// returned apply to the original features. The penalty applies to the
// original coefficients, as in scikit-learn, unless Standardization asks
// for MLlib's default of penalising the standardised ones. The scaling is
// a change of variables only: it changes how fast the optimiser converges,
// never the objective or its minimiser. (With an L2 penalty on the
// original coefficients, a feature's scale is √(σ² + λ/c), c the loss's
// largest curvature, rather than σ: a feature of tiny variance, such as a
// border pixel, would otherwise be dominated by the penalty and slow
// L-BFGS down several-fold.)
//
// LinearSVC is MLlib's linear SVM: the hinge loss with an L2 penalty and
// labels 0/1, through the same standardised objective. Its kink stalls
// L-BFGS short of the minimum, so L-BFGS and GD minimise a sequence of
// hinges smoothed by a quadratic piece of width 1, 0.1, … 1e-6, each
// started where the last stopped (SGD takes the exact hinge's
// subgradients). Its SVMModel predicts classes from margins and has no
// probabilities: it is a ClassPredictor, not a Classifier, and Evaluate
// takes its AUC from the margins.
//
// # Kernels
//
// A pass reads each cached row once. Dense rows go through SIMD kernels.
// For one margin column (linear, binary logistic) a block of a few rows
// takes its dot products, then its residuals, then its scaled additions
// into the gradient. On amd64 with AVX2 and FMA (kernel_amd64.s) the
// additions of one block are fused into the dot products of the next, so
// they run while the dot products wait for memory, and the logistic
// residuals — an exponential, a division and the loss terms — are computed
// four rows at a time; elsewhere gonum's kernels and plain Go do the same
// work. For softmax, two matrix products over a block of 42 rows that stays
// in L2, the margins X·Wᵀ and the gradient G += Rᵀ·X, by package
// ml/internal/tile (AVX-512 or AVX2 assembly chosen at run time, Go
// elsewhere; every variant gives the same bits, since tile fixes the
// summation order of each product). The losses
// share one logarithm among many unit-weight rows (the logarithm of the
// product of the rows' arguments), and the Go loops make no calls, since
// every call in Go's register ABI spills the loop's state. CSR rows take
// gathers and scatters.
//
// Dense partitions cached in float32 (cluster.Format.Float32) are read by
// the same passes. The softmax block pass multiplies them in float32: its
// margins are tile.Products32 of the float32 rows and the coefficients
// rounded to float32 once per pass (sixteen float32 lanes to a register,
// each lane's sum rounded to float32 at every step), and its gradient is
// tile.RankUpdateF32 in float32 lanes too, into a float32 scratch that is
// added into the float64 gradient after every block of 48 rows (no float32
// sum covers more rows than that), so a pass is within a stated bound of the float64 pass on the
// rounded values, not equal to it (TestFloat32Pass; a fit's accuracy and
// loss are held to float32AccuracyTol and float32LossTol, on Fashion-MNIST
// too). The other passes (one margin column, mini-batches, the normal
// equations, standardization, Evaluate) widen a block of rows to float64
// in cache (tile.Widen) and run the float64 kernels, giving the bits of a
// float64 partition of the rounded values. k-means (ml/kmeans) takes
// float32 products in its Lloyd passes. Sums over a partition stay float64
// everywhere, and the float32 kernels give the same bits on every CPU.
// Naive Bayes, the MLP and ALS read float64 rows only.
//
// # Evaluation and selection
//
// Metrics come from prediction slices (RMSE, MAE, R2, Accuracy,
// NewConfusion, LogLoss, AUC) or from a dataset in one aggregation
// (Evaluate). KFold and CrossValidate split with the engine's seeded
// folds (cluster.Folds: views on the in-process engine, copies elsewhere),
// so folds too are the same for any number of workers. Choosing hyper-parameters (a grid, validation splits, refits)
// is the trainer's: package trainer searches every algorithm's grid the
// same way.
package ml
