//go:build linux && race

package main

// raceEnabled: see nbioBackend.handoff.
const raceEnabled = true
