//go:build !tether_lockorder

package tether

func lockOrderErr() error { return nil }
