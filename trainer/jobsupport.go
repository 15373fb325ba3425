package trainer

// What the job manager (package trainer/jobs) needs of this package beyond
// Run and its options.

// CheckpointPrefix is the key prefix of the optimiser checkpoints of the job
// with this id, as the job manager passes it in Checkpoints.Prefix:
// "jobs/<id>/checkpoint", beside the job's record "jobs/<id>.json" in the
// same store.
func CheckpointPrefix(id string) string { return "jobs/" + id + "/checkpoint" }
