// Package jobs runs training jobs on a long-running driver: a Manager
// queues the jobs submitted to it and runs each with trainer.Run, API
// serves it over HTTP (flint driver, flint up --http; docs/driver.md), and
// Client is the Go client of that API (flint train --driver).
//
// # The queue in the store
//
// The Manager keeps one JSON record per job in a models.Store, usually the
// model store the jobs publish to, beside the job's optimiser checkpoints:
//
//	jobs/<id>.json            the Job: spec, state, phase, progress, result, attempts
//	jobs/<id>/checkpoint...   the checkpoints of its run (trainer.CheckpointPrefix)
//
// An id is the UTC second of submission and a counter, so ids sort in
// submission order, and a record is created only if its key is free, so
// two processes on one store never share an id. Jobs run in submission
// order, ManagerConfig.MaxConcurrent at once. A driver that stops (Close,
// or a crash) leaves its jobs queued or running in the store; the next
// Manager on the store lists every job the last one knew and resumes the
// unfinished ones from their newest checkpoints, one more attempt each, up
// to ManagerConfig.MaxAttempts. A final state is written to the store, and
// the job's checkpoints deleted, before anyone watching the job sees it.
//
// # Triggered jobs
//
// A spec with a trigger (every, records) is a triggered job: Submit runs it
// at once and keeps it in the store as triggers/<name>.json, and a
// goroutine of the Manager checks the trigger every
// ManagerConfig.TriggerPoll (the interval since the last run started, on
// ManagerConfig.Clock; the records appended to the source topic past the
// offsets the latest version read) and queues a run (a Job whose Trigger
// says why) when it is due. Runs of one job never overlap: a firing
// during a run is coalesced into at most one run after it, if the trigger
// is still due then. A new Manager on the store follows the triggered
// jobs kept there; StopTrigger ends one; Follow runs one in the
// foreground without keeping it (flint train --follow).
//
// # Retries
//
// An attempt that fails for a transient reason — an error wrapping
// cluster.ErrUnavailable, or an expired deadline of a log read — is started
// again from the job's newest checkpoint, with backoff, up to
// ManagerConfig.Retries times within RetryFor; other errors fail the job at
// once, and a canceled job is never retried. Manager.Collector exposes the
// jobs by state, the attempts, retries and iterations, and the job
// durations as Prometheus metrics.
//
// # The HTTP API and its client
//
// API serves a Manager: submitting, listing, following (newline-delimited
// JSON, a line per change) and canceling jobs, the cluster's workers, and
// /metrics, behind a bearer token (internal/bearer, the middleware serving
// uses too); refused tokens are counted and logged at most once a minute
// per client address. Job, List, WorkerList and ErrorBody are the bodies
// it sends.
//
// Client calls it. Its errors match the Manager's (ErrNotFound,
// ErrFinished, ErrClosed) and ErrUnauthorized with errors.Is, and
// Client.Follow reconnects when the event stream breaks (a driver
// restart), passing on each state once.
package jobs
