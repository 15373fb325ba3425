// Package predlog is the prediction log of flint serve: a sample of the
// prediction requests, one record per request, appended to a topic of the
// log (the embedded log or Kafka, through log.Log), so that labels
// arriving later can be joined to their rows (package predlog/join) into
// training data for the next round.
//
// # Never in the way of a prediction
//
// The server hands each sampled request to Writer.Offer after its
// prediction is computed: Offer copies the request and response bodies
// into one pooled buffer and puts it on a bounded in-memory queue without
// blocking. When the queue is full (too many requests or too many bytes
// waiting) the request is dropped and counted in
// flint_prediction_log_dropped_requests_total; nothing else happens to the
// prediction. One background goroutine drains the queue every
// Config.FlushInterval (sooner when it is half full), writes each
// request's record header in front of its bodies and appends the records
// in batches of Config.Batch (or 4 MiB), returning the buffers to the pool
// after the append; a request never wakes it, so handing an entry over
// costs the request a copy and a channel send. Nothing is parsed or
// re-encoded on the server: the readers split the rows. A failed append
// is logged and its records counted in
// flint_prediction_log_records_total{result="failed"}; they are not
// retried, so a log that is down costs the server nothing but the queue.
// A body that is not a JSON object is counted as result="malformed" and
// not written.
//
// # Records
//
// Each record's key is the request id (so the labels of a request, keyed
// the same way, fall in the same partition number of a topic with as many
// partitions), its time the prediction's, and its value one JSON object
// (format 2):
//
//	{"v":2,"id":"6f1c0d2a9b3e4f57-1a","time":"2026-12-07T14:03:05.123456789Z",
//	 "model":"churn","version":3,
//	 "request":{"rows": [{"age": 30, "plan": "pro"}, {"age": 71, "plan": "basic"}]},
//	 "response":{"model":"churn","version":3,"classes":["no","yes"],"predictions":[
//	     {"class":"no","index":0,"probabilities":[0.83,0.17]},
//	     {"class":"yes","index":1,"probabilities":[0.21,0.79]}]}}
//
// v is the format. id is the request id: the client's X-Request-Id
// header, or one the server made (the response carries it in X-Request-Id
// either way). request is the body exactly as the client sent it (after
// gzip decoding), response the body exactly as the server answered it.
// version is the model version that predicted; model its name.
//
// DecodeRows splits a record into its rows (Record): row i of the
// request's "rows" ({"row": {...}} is row 0) with entry i of the
// response's "predictions". A request whose rows and predictions do not
// line up one to one (a pair model that dropped a cold-start row names the
// request row in the prediction's "row") is matched by that "row".
//
// Records without "v" are format 1, which earlier versions wrote, one per
// row; DecodeRows reads them too, and AppendRow writes one (the joiner
// keeps its waiting rows so):
//
//	{"id":"6f1c0d2a9b3e4f57-1a","row":0,"time":"2026-12-07T14:03:05.123456789Z",
//	 "model":"churn","version":3,
//	 "fields":{"age": 30, "plan": "pro"},
//	 "prediction":{"class":"no","index":0,"probabilities":[0.83,0.17]}}
package predlog
