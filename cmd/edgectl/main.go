// Command edgectl is the single binary for VPS edge fleets: the on-host agent
// (a dual-stack reverse proxy) and the operator's fleet tooling.
package main

import (
	"os"

	"github.com/edgectl/edgectl/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(cli.Main(version))
}
