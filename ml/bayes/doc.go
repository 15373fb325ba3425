// Package bayes fits naive Bayes classifiers — multinomial, Bernoulli and
// Gaussian, the model types of Spark MLlib's NaiveBayes — on Flint's
// engine, with scikit-learn's formulas: a fitted model's parameters and
// predictions agree with scikit-learn's MultinomialNB, BernoulliNB and
// GaussianNB to rounding (see TestMatchesScikitLearn).
//
//	ds, _ := engine.FromDense(ctx, "digits", x, rows, cols, labels, nil, 0)
//	m, err := bayes.Fit(ctx, engine, ds, bayes.Config{ModelType: bayes.Multinomial})
//	class := m.Predict(row) // no engine needed: m is a plain value
//
// Naive Bayes is the cheapest classifier there is to fit: one pass over
// the data. It is a strong baseline for text and other count data
// (multinomial), for binary indicators (Bernoulli), and for small sets of
// real-valued features (Gaussian).
//
// # The pass
//
// Fit runs one registered cluster task. Each partition sums, per class c,
// the weight of its rows W_c = Σ wᵢ and either the weighted feature sums
// N_cj = Σ wᵢxᵢⱼ (multinomial, Bernoulli) or the weighted means and sums
// of squared deviations of each feature, in two passes over the cached
// rows (Gaussian). The cluster's tree aggregation combines the partials in
// a fixed order over partitions, the Gaussian moments by Chan et al.'s
// pairwise formula, so that features with large offsets lose no
// precision, and so that a fit is bit-for-bit the same for any number of
// workers. Sparse (CSR) rows are read without densifying. Row weights
// (Block.W) weight everything, as scikit-learn's sample_weight.
//
// # Formulas
//
// With α = Config.Smoothing, D features and W = Σ_c W_c:
//
//	class prior:  log π_c   = log W_c − log W                 (−Inf for an empty class)
//	multinomial:  log θ_cj  = log(N_cj + α) − log Σⱼ(N_cj + α)
//	              log p(x, c) = log π_c + Σⱼ xⱼ log θ_cj
//	Bernoulli:    log θ_cj  = log(N_cj + α) − log(W_c + 2α)
//	              log p(x, c) = log π_c + Σⱼ xⱼ log θ_cj + (1 − xⱼ) log(1 − θ_cj)
//	Gaussian:     μ_cj = Σ wᵢxᵢⱼ / W_c,  σ²_cj = Σ wᵢ(xᵢⱼ − μ_cj)² / W_c + ε
//	              ε = Config.VarSmoothing · maxⱼ Var(xⱼ)      (over all rows)
//	              log p(x, c) = log π_c − ½ Σⱼ [log(2πσ²_cj) + (xⱼ − μ_cj)²/σ²_cj]
//
// The predicted class maximises log p(x, c) (the lowest index among
// ties); the class probabilities are exp(log p(x, c) − log Σ_c' p(x, c')),
// the sum taken as a log-sum-exp. The multinomial coefficient of the
// multinomial likelihood is left out, as both libraries leave it out: it
// does not depend on the class.
//
// Config.Progress sees one iteration, Iter 1, whose Loss is the mean
// negative joint log-likelihood of the training rows,
// −(1/W) Σᵢ wᵢ log p(xᵢ, yᵢ), with log p as above. It costs no second
// pass: every term is linear in the statistics the pass already returned
// (N_cj, W_c and, for the Gaussian, the sums of squared deviations).
//
// # MLlib and scikit-learn
//
// Where the two differ, Flint follows scikit-learn's formulas and MLlib's
// checks:
//
//   - Class priors are not smoothed, as in scikit-learn. MLlib's
//     multinomial and Bernoulli models use log(W_c + α) − log(W + K·α).
//   - Multinomial features must be finite and >= 0 (MLlib rejects
//     negative, NaN and infinite values; scikit-learn rejects negative
//     ones). Bernoulli features must be exactly 0 or 1, as MLlib
//     requires: scikit-learn's BernoulliNB binarises at 0 by default and
//     with binarize=None applies the formula to any value. Binarise the
//     data first (the sklearn agreement test uses x > 8 on digits).
//     Gaussian features must be finite. A bad value fails the fit with
//     an error naming the feature, the row, its partition and the value.
//     Prediction applies the formulas to any values, unchecked.
//   - ε uses the weighted population variance of each feature. MLlib
//     does the same (with a fixed 1e-9, from sums of squares);
//     scikit-learn takes np.var of the unweighted rows even when given
//     sample weights. Without weights all three agree.
//   - The Gaussian likelihood keeps scikit-learn's −½ log 2π terms, which
//     MLlib's raw predictions leave out; probabilities are the same.
//   - Smoothing 0 means the default 1 (Flint's zero-means-default
//     configuration); both libraries accept α = 0, which scikit-learn
//     before 1.4 raises to 1e-10.
//   - Classes × features may not exceed MaxParams (2²⁶), so that a stray
//     label in wide data fails the fit instead of exhausting memory.
//   - The classes are 0 … K−1 with K = Config.Classes, or the largest
//     label plus one: a class without training rows gets log prior −Inf
//     and is never predicted. Both libraries know only the labels they
//     saw.
//
// # Model
//
// Model implements ml.Classifier, so ml.Evaluate and ml.CrossValidate
// (through Estimator) take it, and a job's grid over "smoothing" and
// "var_smoothing" goes through the trainer; it is registered with ml.RegisterModel
// as "naive_bayes": ml.UnmarshalModel and Flint's serving decode it. Its
// encoding is ml's model envelope around a versioned payload (see
// MarshalBinary). PredictSparse and ProbaSparse predict a CSR row in time
// proportional to its non-zeros; ml.Evaluate, which knows only the
// ml.Model methods, densifies CSR rows a chunk at a time.
package bayes
