//go:build !unix

package transfer

import "time"

// processCPU returns 0: this platform has no getrusage, so reports leave the CPU figures out.
func processCPU() time.Duration {
	return 0
}
