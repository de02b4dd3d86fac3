// Command mangen writes edgectl's man pages: go run ./internal/mangen DIR VERSION.
package main

import (
	"fmt"
	"os"

	"github.com/edgectl/edgectl/cli"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: mangen DIR VERSION")
		os.Exit(2)
	}
	if err := cli.GenManPages(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
}
