// Package als factorises a ratings matrix by alternating least squares, as
// Spark MLlib's ALS does, on Flint's engine, and serves recommendations from
// the factors.
//
//	ratings, _ := als.ReadCSV(file, true) // or Collect a dataset decoded with als.Format
//	m, err := als.Fit(ctx, engine, ratings, als.Config{Rank: 10, Seed: 1})
//	top, err := m.Recommend(nil, user, 10, als.RecommendOptions{ExcludeRated: true})
//
// # Model and objective
//
// Each user u and item i gets a factor of Config.Rank values and a rating is
// predicted as x_u·y_i. Explicit feedback minimises
//
//	Σ (r_ui − x_u·y_i)² + λ (Σ_u n_u‖x_u‖² + Σ_i n_i‖y_i‖²)
//
// with λ scaled by each user's and item's number of ratings n (ALS-WR,
// Zhou et al. 2008, MLlib's scaling). Config.Biases adds a bias per user
// and per item (biased matrix factorisation, Koren, Bell and Volinsky
// 2009): a rating is predicted as μ + b_u + b_i + x_u·y_i, μ the mean
// training rating, and the objective becomes
//
//	Σ (r_ui − μ − b_u − b_i − x_u·y_i)² + λ (Σ_u n_u(‖x_u‖² + b_u²) + Σ_i n_i(‖y_i‖² + b_i²))
//
// Each half-iteration then solves a row's factor and bias together, as one
// least-squares problem of Rank+1 unknowns against the other side's factors
// extended by a constant 1 and the ratings less μ and the other side's
// biases; the biases alternate with the factors exactly as the factors do. Implicit feedback (Config.Implicit;
// Hu, Koren and Volinsky 2008) treats every user-item pair as an
// observation of the preference p = [r > 0] with confidence c = 1 + α|r|,
// and λ is scaled by the number of positive ratings. Config.NonNegative
// keeps every factor ≥ 0.
//
// # Alternating on the engine
//
// Fit groups the ratings twice, by user and by item, into CSR rows (one row
// per user: the items it rated and the ratings), cuts each grouping into
// Config.Blocks partitions (rows assigned round-robin) and caches both on
// the engine. An iteration solves every item's factor from the fixed user
// factors, then every user's from the new item factors. A half-iteration
// is one registered task over one side's partitions: the other side's
// factors are the broadcast, each partition solves its rows, and its
// partial is the solved factors of those rows; combining two partials
// concatenates them (the rows are disjoint) and the driver places them.
// Every row is solved on its own, so the factors are bit-for-bit the same
// for any number of workers and any Config.Blocks.
//
// A row with n ratings forms its normal equations in O(n·Rank²) with
// package ml/internal/tile (assembly on amd64 chosen at run time: AVX-512
// throughout, AVX2 and FMA for the outer products, portable Go elsewhere;
// every variant gives the same bits). The other side's factors of its
// ratings are gathered as rows; for explicit feedback each is followed by
// its rating, so adding their outer products gives Σ y·yᵀ, the right-hand
// side Σ r·y and Σ r² in one pass. For implicit feedback the rows are
// scaled by √(c−1) before their outer products and the right-hand side
// Σ c·y is added separately (tile.Scale, tile.Axpy); the sum over all
// items, YᵀY + Yᵀ(C − I)Y, is YᵀY — computed once per half-iteration on
// the driver — plus the rated items' terms only. The system is solved by
// tile's Cholesky, which factors [A b] and so does the forward
// substitution as it goes, and a back substitution, or, for non-negative
// factors, by an active-set NNLS (Lawson–Hanson on the normal equations).
// The opt-in cgo build (-tags openblas) forms and solves them with
// OpenBLAS instead (DSYRK, DGEMV, DPOTRF and DPOTRS).
//
// # Checkpoints
//
// Config.CheckpointEvery and Config.Checkpoint hand the fit's State (the
// user and item factors, their ids and the iteration) to the caller every
// few iterations, and Config.Resume continues a fit from one, for a driver
// restarted after a crash. An iteration reads only the ratings and the
// current factors, so a resumed fit ends with the uninterrupted fit's
// factors bit for bit. State.MarshalBinary encodes it in ml's versioned
// checkpoint envelope ("FLST", algorithm "als"); resuming checks the rank,
// Implicit, NonNegative and the ids, and names what differs.
//
// Config.Progress, when set, sees every iteration, with the objective
// when Config.Tol is set (else NaN).
//
// # Convergence and warm starts
//
// ALS runs Config.MaxIter iterations unless Config.Tol is set: the fit
// then measures the objective above after each iteration (each user's
// data term and regularisation in the user half-iteration, each item's
// regularisation in the item half, summed on the driver in row order, so
// the same for any number of workers and blocks) and stops once it
// changes by no more than Tol of itself. A row's data term and
// regularisation together are Σ c·p² − 2xᵀb + xᵀAx for the normal
// equations Ax = b it solves, which at the solution is Σ c·p² − xᵀb (for
// NNLS too: each x_j is 0 or has (Ax − b)_j = 0), so the solve has it
// for the cost of a sum and a dot product: BenchmarkObjective shows no
// difference beyond this shared machine's noise (rank 10: 271–352 ms an
// iteration with Tol, 391–423 ms without, 1 000 000 ratings). Config.Start warm-starts a fit
// from an earlier model: the ids the ratings share with it start from its
// factors (and biases), matched by id, the others from the seeded factors
// a cold fit draws, and the fit stays bit for bit the same for any number
// of workers and blocks. Started from the converged factors of the same
// ratings, a fit stops after 2 iterations where the cold one took 69
// (TestWarmStartConverges, Tol 1e-6).
//
// # Memory
//
// Each worker holds the broadcast factors of the other side: at most
// max(users, items)·Rank·8 bytes (plus Rank²·8 for YᵀY): 100 000 users at
// rank 50 is 40 MB a worker. The in-process engine shares one copy; remote
// workers each receive one. Fit checks the bound against
// Config.MaxBroadcastBytes (default 1 GiB) before it starts and fails with
// a *BroadcastLimitError naming the side, its size and the rank. The
// driver holds both factor matrices and the ratings twice while it groups
// them; the engine caches each rating twice (12 bytes each way).
//
// # Repeated ratings and ids
//
// User and item ids are any integers within ±2⁵³; the model keeps them
// sorted and maps them by binary search. String ids (UUIDs, SKUs) are
// mapped to dense integers first: SortKeys lists the distinct names in
// byte order and a name's id is its position (KeyID), which depends only
// on the set of names, not on their order or partitioning; Model.SetKeys
// stores the names with the model and UserByKey and ItemByKey map them
// back. A pair rated more than once keeps
// the rating with the latest Time (the later in input order on a tie) for
// explicit feedback, and the sum of the values for implicit feedback.
//
// # Cold start
//
// A user or item not seen in training has no factor. Predict returns NaN
// for it; Model.ColdStart (from Config.ColdStart, as MLlib's
// coldStartStrategy) decides evaluation: ColdStartNaN ("nan", the default)
// makes RMSE NaN when the test set holds such a pair, ColdStartDrop
// ("drop") leaves those pairs out. Recommend and SimilarItems fail with
// ErrUnknownUser or ErrUnknownItem, so a server can fall back to, say,
// popular items. EvaluateRanking skips test users unseen in training.
//
// # Recommendations
//
// Recommend scores every item against the user's factor in blocks of 256
// item factors and keeps the best k in a bounded heap; it can leave out the
// items the user rated in training (kept in the model with
// Config.KeepRated) and any other items. SimilarItems ranks items by the
// cosine of their factors. Both are O(items·Rank + items·log k) and
// allocate only a k-entry heap (and the result, unless dst has room).
//
// # Data and evaluation
//
// Format returns the cluster.Format that decodes "user,item,rating[,time]"
// CSV or JSON records from a log topic or files into a dataset; Collect
// and FitDataset read such a dataset. ReadCSV reads a CSV stream. Split
// holds out a seeded random test set; Model.RMSE, Ranking and
// EvaluateRanking give RMSE, precision@k, recall@k, NDCG@k and MAP@k, and
// EvaluatePopular the same metrics of recommending the most-rated items
// to the same users, the trivial answer a model has to beat.
// Models encode with MarshalBinary ("FLNTMODL", version 3, "als", payload,
// CRC-32C; versions 1 and 2, without biases or names, still decode); an
// unknown version fails with ErrVersion. Checkpoint states are version 3
// (versions 1, without biases, and 2, without the objective, still
// decode).
package als
