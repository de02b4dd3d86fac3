package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print edgectl's version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.Output == "json" {
				return writeJSON(f.IO.Out, map[string]string{
					"version": f.Version, "go": runtime.Version(),
					"os": runtime.GOOS, "arch": runtime.GOARCH,
				})
			}
			_, err := fmt.Fprintf(f.IO.Out, "edgectl %s (%s, %s/%s)\n", f.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
