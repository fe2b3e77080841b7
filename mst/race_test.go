//go:build race

package mst

const raceEnabled = true
