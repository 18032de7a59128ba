//go:build tether_portable

package main

// portableBuild: the tests run with -tags tether_portable, so the binary
// they start is built with it too (one reader goroutine per connection).
const portableBuild = true
