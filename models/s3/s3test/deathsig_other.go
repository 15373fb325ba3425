//go:build !linux

package s3test

import "os/exec"

// setDeathSignal: without Pdeathsig, a test binary killed before Main's
// clean-up leaves its server running.
func setDeathSignal(*exec.Cmd) {}
