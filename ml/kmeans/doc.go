// Package kmeans clusters the rows of a cached dataset with k-means, as
// Spark MLlib's KMeans does, on Flint's engine: every pass over the data is
// a registered cluster task that the workers run on their own partitions
// with the current centres broadcast, so Fit runs the same on the
// in-process engine and on remote workers, and its result is bit-for-bit
// the same for any number of workers.
//
//	ds, _ := engine.FromDense(ctx, "points", x, rows, cols, labels, nil, 0)
//	m, err := kmeans.Fit(ctx, engine, ds, kmeans.Config{K: 10, Seed: 1})
//	j, err := m.Predict(row) // no engine needed: m is a plain value
//
// # Initialisation
//
// Config.Init picks the starting centres. The default, k-means|| (Bahmani
// et al., 2012, as MLlib runs it), draws one row by weight, then in
// Config.InitSteps rounds (default 2) keeps each row independently with
// probability min(1, 2K·w·d²/φ) — d² its squared distance to the
// candidates so far, φ the weighted sum of d² — and finally reduces the
// distinct candidates, each weighted by the rows nearest to it, to K
// centres by weighted k-means++ and 30 Lloyd iterations on the driver. It
// costs two passes per round. "k-means++" draws K rows one after another
// with probability ∝ w·d² (exact, one pass per centre: each partition draws
// a candidate by weighted reservoir sampling and the tree aggregation
// merges candidates with the same rule). "random" takes K distinct rows
// uniformly. Config.InitialCentres starts from given centres instead.
// Config.Runs runs that many initialisations (with seeds drawn from
// Config.Seed) and keeps the run of lowest inertia.
//
// # Lloyd iterations
//
// Each iteration is one task: every partition assigns its rows to the
// nearest centre and returns, per centre, the weighted sum and count of its
// rows, the cost, and the K rows farthest from their centres; the driver
// combines them and moves each centre to its cluster's weighted mean. A run
// stops when no centre moved more than Config.Tol (Euclidean; negative:
// when no centre moved at all) or after Config.MaxIter iterations; a last
// pass then measures the returned centres (Model.Inertia, Model.Sizes), so
// they describe exactly the centres in the model.
//
// Squared distances are computed as ‖x‖² − 2x·c + ‖c‖²: for dense rows the
// products x·c of a block of 48 rows with all centres are one small matrix
// product, computed by package ml/internal/tile in register tiles (6×6
// with AVX-512, 3×3 with AVX2 and FMA, chosen at run time) that also yield ‖x‖² from the values
// they load. Row norms are therefore computed inside every pass, not
// cached: fused into the product they cost almost nothing, where a
// separate pass over the rows cost about 20% of an iteration (measured on
// Fashion-MNIST). Sparse (CSR) rows are multiplied with the transposed
// centres, one non-zero at a time.
//
// # Empty clusters
//
// A cluster that ends an iteration with no rows (or only rows of weight 0)
// is re-seeded, as scikit-learn does and unlike MLlib (which keeps the old
// centre), with the row farthest from its own centre; the next empty
// cluster gets the next farthest row, and each such row is taken out of the
// cluster it was assigned to. Only when no row is left at a positive
// distance (the data has fewer distinct rows than K) does an empty cluster
// keep its centre.
//
// # Checkpoints
//
// Config.CheckpointEvery and Config.Checkpoint hand the fit's State to the
// caller every few Lloyd iterations of a run, and Config.Resume continues
// a fit from one, for a driver restarted after a crash. Lloyd iterations
// draw no random numbers and each run's initialisation is seeded by
// Config.Seed and the run's index, so the run in progress, its iteration
// and centres, and the best model of the finished runs are the whole
// state; a resumed fit returns the uninterrupted fit's model bit for bit.
// State.MarshalBinary encodes it in ml's versioned checkpoint envelope
// ("FLST", algorithm "kmeans"); resuming checks K, the number of features,
// the initialisation and the seed, and names what differs.
//
// Config.Progress, when set, sees every Lloyd iteration: the run, the
// iteration, the cost against the centres it started from and how far the
// centres moved.
//
// # Model
//
// Model holds the centres, the cluster sizes, the inertia (weighted sum of
// squared distances to the nearest centre, scikit-learn's inertia_), and
// the mean silhouette (Euclidean, as scikit-learn's silhouette_score) of
// Config.SilhouetteSample rows drawn with the seed. Predict, PredictSparse
// and PredictBatch assign new rows; MarshalBinary and UnmarshalBinary use a
// versioned, checksummed encoding ("FLNTMODL", version, "kmeans", payload,
// CRC-32C), and an unknown version fails with ErrVersion.
package kmeans
