// Package predlog is the prediction log of flint serve: a sample of the
// prediction requests, one record per predicted row, appended to a topic of
// the log (the embedded log or Kafka, through log.Log), so that labels
// arriving later can be joined to them (package predlog/join) into
// training data for the next round.
//
// # Never in the way of a prediction
//
// The server hands each sampled request to Writer.Offer after its
// prediction is computed: Offer copies the request and response bodies
// into one buffer and puts them on a bounded in-memory queue without
// blocking. When the queue is full (too many requests or too many bytes
// waiting) the request is dropped and counted in
// flint_prediction_log_dropped_requests_total; nothing else happens to the
// prediction. One background goroutine drains the queue every
// Config.FlushInterval (sooner when it is half full), turns each request
// into its records and appends them in batches of Config.Batch records; a
// request never wakes it, so handing an entry over costs the request a copy
// and a channel send. A failed append is
// logged and its records counted in
// flint_prediction_log_records_total{result="failed"}; they are not
// retried, so a log that is down costs the server nothing but the queue.
//
// # Records
//
// Each record's key is the request id (so the labels of a request, keyed
// the same way, fall in the same partition number of a topic with as many
// partitions), its time the prediction's, and its value one JSON object:
//
//	{"id":"6f1c0d2a9b3e4f57-1a","row":0,"time":"2026-12-07T14:03:05.123456789Z",
//	 "model":"churn","version":3,
//	 "fields":{"age":30,"plan":"pro"},
//	 "prediction":{"class":"no","index":0,"probabilities":[0.83,0.17]}}
//
// id is the request id: the client's X-Request-Id header, or one the
// server made (the response carries it in X-Request-Id either way). row is
// the row's index in the request ({"row": {...}} is row 0). fields is the
// row exactly as the client sent it (after gzip decoding), prediction the
// row's entry of the response's "predictions" exactly as the server
// answered it. version is the model version that predicted; model its
// name. A request whose rows and predictions do not line up one to one
// (a pair model that dropped a cold-start row names the request row in the
// prediction's "row") is matched by that "row".
package predlog
