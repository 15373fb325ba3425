//go:build !unix

package als

import "time"

func cpuTime() time.Duration { return 0 }
