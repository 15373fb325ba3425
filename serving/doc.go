// Package serving is Flint's prediction server: it serves the models of a
// models.Registry over HTTP (echo v4) with a native API, the KServe V2 /
// Open Inference Protocol REST API, Prometheus metrics and an OpenAPI 3
// document (GET /openapi.json; the same file is docs/openapi.json).
//
//	s, err := serving.New(serving.Config{Registry: models.NewRegistry(store), Addr: ":8080"})
//	go s.ListenAndServe()
//	...
//	err = s.Shutdown(ctx) // on SIGTERM: drains the requests in flight
//
// A prediction runs on a loaded model in the request's goroutine: the JSON
// body is decoded straight into the model's fitted feature pipeline (no
// reflection, no intermediate maps, pooled scratch), so that clients send
// raw records exactly as training read them.
//
// # Native API
//
// Rows are JSON objects keyed by the schema's field names: numbers,
// strings (categorical, text, or RFC 3339 timestamps), arrays for vector
// fields; an optional field may be null or absent. Only the fields the
// model's fitted pipeline reads (features.Pipeline.ReadsField) are
// required; the label, the weight and any other schema field it does not
// read (an id, say) may be sent and are ignored, or refused with
// Config.StrictFields. A name not in the schema is an error.
//
// Every value is set by the features package's setters (features.SetNumber,
// SetString, SetBool, SetNull), the ones training's decoder calls, so a
// value means the same here as in training, bit for bit: a number sent for
// a categorical field is the category of its canonical text
// (features.NumberCategory: 7, 7.0 and 0.7e1 are "7", 1e2 is "100", 0.10
// is "0.1"), while a string is taken as written ("7.0" stays "7.0"). A
// model whose pipeline reads only numeric and timestamp fields
// (features.Pipeline.NumericInputs) reads a row straight into its fields'
// numbers (features.ScanNumber, then Transformer.TransformNumbers), with
// the same results and errors as the general path.
//
//	curl -s localhost:8080/v1/models/churn/predict --json '{"rows": [
//	    {"age": 30, "plan": "pro", "usage": [0.1, 0.2]},
//	    {"age": 71, "plan": "basic", "usage": [0.9, 2.5], "income": 52000}]}'
//	{"model":"churn","version":3,"classes":["no","yes"],"predictions":[
//	    {"class":"no","index":0,"probabilities":[0.83,0.17]},
//	    {"class":"yes","index":1,"probabilities":[0.21,0.79]}]}
//
// {"row": {...}} predicts one row. A regressor answers {"value": v} per
// row and a clustering model {"cluster": k}. The unversioned route serves
// Config.DefaultAlias when the model has it, else the latest version;
// /versions/{v}/predict and /aliases/{alias}/predict name one.
//
//	curl -s localhost:8080/v1/models                   # names, versions, aliases, what serves
//	curl -s localhost:8080/v1/models/churn             # versions with metrics, schema, load errors
//	curl -s localhost:8080/v1/models/churn/versions/2/predict --json '{"row": {...}}'
//	curl -s -X PUT localhost:8080/v1/models/churn/aliases/production --json '{"version": 2}'   # admin
//	curl -s 'localhost:8080/v1/models/movies/recommend?user=42&k=10&exclude_seen=true'   # ALS
//	curl -s 'localhost:8080/v1/models/movies/aliases/production/recommend?user=42&fallback=popular'
//	curl -s 'localhost:8080/v1/models/movies/similar?item=7&k=5'
//	curl -s localhost:8080/v1/models/movies/predict --json '{"rows": [{"user": 42, "item": 7}]}'   # ALS scores
//
// A bad request gets a 4xx and {"error": "...", "row": i, "field": "..."}
// naming the row and field at fault:
//
//	{"error":"rows[1]: field \"age\": want a number, got a string","row":1,"field":"age"}
//
// A row whose prediction is not a finite number (a value far outside the
// training data can overflow) gets 422 naming the row: JSON has no
// infinities, and V2's FP64 no null.
//
// # Request bodies
//
// Bodies are JSON: Content-Type application/json (or a +json type, UTF-8)
// or none; anything else, e.g. curl -d's default form type, gets 415 (use
// curl --json). Content-Encoding gzip is accepted, and Config.MaxBodyBytes
// bounds the body after decompression (413); other encodings get 415. The
// body bytes all requests hold at once are bounded by
// Config.MaxInFlightBytes: a request that would go over gets 503 with
// Retry-After: 1, counted by flint_serving_shed_requests_total (and
// flint_serving_inflight_bytes shows the bytes held). A body that does
// not arrive within ReadTimeout gets 408 and the connection is closed
// (headers that do not arrive within ReadHeaderTimeout are net/http's to
// handle: it closes the connection without an answer).
//
// # KServe V2 (Open Inference Protocol)
//
// GET /v2 (server metadata), /v2/health/live, /v2/health/ready,
// GET /v2/models/{name}[/versions/{v}] (model metadata),
// GET /v2/models/{name}[/versions/{v}]/ready and
// POST /v2/models/{name}[/versions/{v}]/infer, as the protocol's REST
// specification describes them. {v} is a version number or an alias. The
// inputs are one tensor per schema field, named after it, of shape [N]
// (or [N, dim] for a vector field), FP64/FP32/INT*/UINT*/BOOL for numbers
// and BYTES for categorical and text fields; data may be flat or nested.
// A number in a tensor for a categorical field is read from its literal
// text, as the native API and training read it.
// The outputs are "predict" (class index or cluster, INT64, or value,
// FP64; shape [N]) and, for classifiers, "probabilities" (FP64,
// [N, classes]); "outputs" in the request selects among them. Errors are
// {"error": "..."}. Readiness is 200 when ready and 400 when not (the
// protocol's "a 4xx status indicates false").
//
//	curl -s localhost:8080/v2/models/churn/infer --json '{"id": "42", "inputs": [
//	    {"name": "age",   "shape": [1],    "datatype": "FP64",  "data": [30]},
//	    {"name": "plan",  "shape": [1],    "datatype": "BYTES", "data": ["pro"]},
//	    {"name": "usage", "shape": [1, 2], "datatype": "FP64",  "data": [[0.1, 0.2]]}]}'
//	{"model_name":"churn","model_version":"3","id":"42","outputs":[
//	    {"name":"predict","datatype":"INT64","shape":[1],"data":[0]},
//	    {"name":"probabilities","datatype":"FP64","shape":[1,2],"data":[0.83,0.17]}]}
//
// # Models and hot swap
//
// The server loads the latest and every aliased version of every model at
// start, then polls the registry (Config.WatchInterval). A new version or
// an alias move is loaded beside what serves, then a new immutable snapshot
// of the served models is swapped in with one atomic pointer store:
// requests that started before keep the version they began with, later
// ones get the new one, and none fails. The old version is freed by the
// garbage collector once its last request is done ("model released" in the
// log). A version that fails to load leaves the previous one serving; it is
// retried with backoff and reported by GET /v1/models/{name}, the model's
// ready endpoint and the metrics. Other versions load on demand into a
// small cache (Config.VersionCache).
//
// # Security and operation
//
// With tokens (Config.Tokens, Config.TokensFile, or $FLINT_SERVE_TOKENS
// through ParseTokens; lines "read TOKEN" and "admin TOKEN"), every route
// but /v2, /v2/health/* and /openapi.json needs "Authorization: Bearer
// TOKEN": read tokens may predict and read metadata and metrics, admin
// tokens may also move aliases. A TokensFile or $FLINT_SERVE_TOKENS
// (TokensFromEnv) that is given but holds no token (only comments, blanks
// or separators) is refused, since it would turn authentication off; the
// "serving: listening" log line and flint serve's start-up line say
// whether auth is on (Server.AuthEnabled). Requests refused with 401 for a
// missing or invalid token are counted (flint_serving_auth_refused_total)
// and logged ("serving: refused a request", with the client's address and
// how many it sent since) at most once a minute per client address; a
// valid token of too narrow a scope gets 403. Config.TLSCert and TLSKey
// turn on HTTPS.
// Bodies over Config.MaxBodyBytes and requests over Config.MaxRows rows get
// 413; every request has a deadline (Config.RequestTimeout) and the
// http.Server has read, write and idle timeouts. The connections keep the
// deadlines of those timeouts themselves, and one goroutine hands a
// deadline to the socket once it has passed (at most a tenth of the
// shortest timeout late, 250 ms at most): net/http would otherwise arm a
// runtime timer four or five times a request. Model names are checked
// with models.CheckName before anything reaches the store.
//
// GET /metrics has request counts and latency histograms by route, model,
// version and status (the model and version only when the request named a
// model that is served, so clients cannot mint series; requests net/http
// refuses itself, such as a malformed request or headers over the limit,
// count under the route "rejected by net/http" when serving plain HTTP),
// rows predicted,
// model loads by result, the version each model and alias serves, and Go
// runtime metrics, in a Prometheus registry of the server's own. The
// access log (log/slog, level Info: method, path, status, latency, model,
// version, rows) is off by default; Config.AccessLog N logs one request in
// N, so that its volume stays bounded under load. A goroutine of its own
// writes the records in batches, every 50 ms or when half the buffer
// waits (it is not woken for each record): a request only appends its
// record to the buffer, and when
// Config.AccessLogBuffer records wait (the Logger's writer cannot keep up)
// the next are dropped and counted (flint_serving_access_log_dropped_total)
// instead of slowing requests down; Shutdown writes what waits. 5xx errors
// are always logged, by the request itself.
//
// # Algorithms
//
// Every model ml.UnmarshalModel decodes is served: a classifier (an
// ml.ClassPredictor) gets classes, and probabilities too when it has them
// (an ml.Classifier; a linear SVM has margins, not probabilities, and its
// answers and V2 outputs have none), a model with a NumClusters method
// clusters, any other ml.Model a value. Algorithms with
// encodings of their own plug in as adapters (adapters.go), found by
// Artifact.Algorithm: "kmeans" (ml/kmeans: the nearest centre of each row)
// and "als" (ml/als). An ALS model serves the recommendation routes
// (/recommend, also under /versions/{v} and /aliases/{alias}, and /similar;
// integer ids, or names for a side trained on string ids: the answers then
// name the items too); fallback=popular answers a user not seen in training
// with the items rated most in training instead of 404. It also scores
// rows {"user": id, "item": id} on the predict routes, and V2 inputs "user"
// and "item" (integer tensors, or BYTES for names): the dot product of
// their factors (plus the mean rating and the user's and item's biases
// for a model trained with biases), clipped to the range of the training
// ratings for an explicit model. Each score
// carries its request row ("row", and a V2 output "row"): a pair whose user
// or item training did not see is left out under the model's cold-start
// strategy "drop", and refused with 422 naming the row under "nan". MLP
// models register with ml.RegisterModel, so a binary that links ml/mlp
// serves them with no adapter.
package serving
