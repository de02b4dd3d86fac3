package cli

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// GenManPages writes a man page per command (edgectl.1, edgectl-deploy.1,
// …) into dir, each titled for its command (EDGECTL-DEPLOY); `make man`
// calls it.
func GenManPages(dir, version string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := NewRootCmd(&Factory{Version: version, IO: &IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}})
	var quiet func(c *cobra.Command)
	quiet = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			quiet(sub)
		}
	}
	quiet(root)
	// An empty Title makes cobra title each page after its command.
	return doc.GenManTree(root, &doc.GenManHeader{Section: "1", Source: "edgectl " + version, Manual: "edgectl manual"}, dir)
}
