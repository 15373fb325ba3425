// Package regevents is the registry's watch stream: the process that
// changes a model registry (flint serve's admin API, flint driver) serves
// its changes as server-sent events, and servers subscribe to them, so
// that a new version or a moved alias is served within moments of the
// change instead of at the next poll of the store.
//
// # Protocol
//
// GET on the Hub's handler answers text/event-stream (the WHATWG
// "server-sent events" format). Each change of a model's manifest made
// through the hub's Registry is one event:
//
//	id: 3f9a1c0e5b7d2a64-17
//	event: change
//	data: {"model":"churn","revision":12}
//
// The id is the hub's epoch (random, chosen when it starts) and a sequence
// number. A client that reconnects sends the last id it saw in
// Last-Event-ID, and the hub replays the changes it missed from its
// backlog (the newest DefaultBacklog changes). When it cannot (no id, an
// id of another epoch: the publisher restarted, or an id older than the
// backlog) it sends
//
//	id: 3f9a1c0e5b7d2a64-17
//	event: reset
//	data: {}
//
// and the client must read the whole registry again. A comment line
// (": keepalive") is sent every Hub.Keepalive so proxies and clients see
// a dead connection.
//
// Events carry no manifest: subscribers read the model's manifest from the
// store, which stays the one source of truth; an event only says when to
// look. Subscribe is the client: it reconnects with backoff, resumes, and
// turns the stream into Change values.
package regevents
