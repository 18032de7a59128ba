//go:build !tether_portable

package main

const portableBuild = false
