// Package tetherjs embeds the browser client (dist/, built from src/), its
// package.json (for the version) and the demo page (demo/) so that the
// standalone server can serve them.
//
// dist/ is generated and committed (`go install` runs no build step):
// regenerate it after changing src/ with `go generate` here, or
// `npm run build`. dist/tether.js is the single-file ESM bundle the
// server publishes at /client/tether-<version>.js.
package tetherjs

import "embed"

//go:generate npm run build

// Assets holds dist/..., demo/... and package.json.
//
//go:embed dist demo package.json
var Assets embed.FS
