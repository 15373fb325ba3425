// Package faults is the fault test of a long-lived Flint cluster across
// simulated hosts: a driver, three workers and a Kafka-protocol broker,
// each in a network namespace of its own (internal/netns), run job after
// job while a seeded schedule kills, stops and cuts them off. The test
// asserts what an operator relies on: every job succeeds, every published
// model equals the fault-free run's byte for byte, no job hangs, and the
// workers hold no more memory after a job than before it.
//
// `make test` runs a short schedule (20 jobs); `make test-long`
// (FLINT_LONG=1) runs 100. FLINT_FAULTS_SEED picks another schedule, and
// FLINT_FAULTS_JOBS another length. Without root or iproute2 the test skips
// and says why.
//
// The package has no code of its own outside its tests.
package faults
