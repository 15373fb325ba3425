// Package streaming holds models that learn from a stream of mini-batches,
// as Spark MLlib's streaming algorithms do: streaming k-means
// (StreamingKMeans) and linear and logistic regression fitted by SGD on
// each mini-batch (StreamingLinearRegressionWithSGD,
// StreamingLogisticRegressionWithSGD).
//
// A model is a plain value updated in place by Update with one mini-batch
// at a time: a flat, row-major []float64 of rows×Dim features (and labels
// for the regressions). Update allocates nothing (k-means allocates once,
// to seed its centres on the first batch), and the result depends only on
// the batches, their order and the seed: the same stream gives the same
// bits. Models are not safe for concurrent
// use; the caller owns one per goroutine. Model returns a snapshot in the
// encodings of packages ml and ml/kmeans, so a streaming model is stored
// and served as a batch-trained one is.
//
// # Streaming k-means
//
// Each batch assigns its rows to the nearest centre, then moves every
// centre c that received rows to
//
//	c' = (c·n·a + x̄·m) / (n·a + m)
//
// where n is the centre's weight so far, x̄ and m the mean and count of its
// new rows, and a the discount: the decay factor once per batch
// (TimeUnit "batches") or raised to the number of new rows, their total
// weight ("points").
// A half-life h sets the decay to 0.5^(1/h). A decay of 1 weighs every
// row ever seen alike (MLlib's default); a smaller one forgets the past and
// tracks centres that move. When the smallest weight falls below 1e-8 of
// the largest, that cluster is dying: the largest is split in two around
// its centre (±1e-14 relative), sharing its weight, exactly as MLlib does.
//
// # Streaming linear and logistic regression
//
// Each batch runs Iterations steps of gradient descent from the current
// weights, MLlib's runMiniBatchSGD: step i (from 1) has size
// StepSize/√i, the gradient is the mean over the rows sampled (all of them
// at the default MiniBatchFraction 1; else a seeded hash picks each row),
// an L2 term shrinks the weights by (1 − step·RegParam), and the batch
// stops early when the weights move less than ConvergenceTol times their
// norm. The loss is squared error (linear) or the logistic loss with labels
// 0 and 1 (binary logistic). Unlike MLlib, whose intercept is an appended
// feature, the intercept is never regularised.
package streaming
