//go:build race

package main

// The race detector slows the writes tenfold; the story is the same with
// fewer messages.
const raceEnabled = true
