package cli

import (
	"os"

	"github.com/spf13/cobra/doc"
)

// GenManPages writes a man page per command (edgectl.1, edgectl-deploy.1,
// …) into dir; `make man` calls it.
func GenManPages(dir, version string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := NewRootCmd(&Factory{Version: version, Stdout: os.Stdout, Stderr: os.Stderr})
	root.DisableAutoGenTag = true
	return doc.GenManTree(root, &doc.GenManHeader{Title: "EDGECTL", Section: "1", Source: "edgectl " + version, Manual: "edgectl manual"}, dir)
}
