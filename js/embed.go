// Package tetherjs embeds the browser client (dist/, built from src/) and
// the demo page (demo/) so that the standalone server can serve them.
package tetherjs

import "embed"

// Assets holds dist/... and demo/....
//
//go:embed dist demo
var Assets embed.FS
