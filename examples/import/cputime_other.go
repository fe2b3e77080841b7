//go:build !unix

package main

import "time"

// cpuTime is unknown off Unix (getrusage); the report then shows 0.
func cpuTime() time.Duration { return 0 }
