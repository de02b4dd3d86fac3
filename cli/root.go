// Package cli is edgectl's command-line layer: cobra commands that parse
// flags, call the domain packages and print their results. Nothing else in
// the module imports cobra.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command (SPEC.md).
const (
	ExitOK      = 0 // success
	ExitProblem = 1 // a problem was found or an operation failed
	ExitUsage   = 2 // usage or configuration error
	ExitPartial = 3 // some hosts failed, others succeeded
)

// ExitError carries an exit code through cobra's error path.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks err as a usage or configuration problem (exit 2).
func usageError(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Factory holds what commands need from the outside world, so tests can swap
// the streams without package-level state.
type Factory struct {
	Version string
	Stdout  io.Writer
	Stderr  io.Writer
}

// GlobalOptions are the flags every command accepts.
type GlobalOptions struct {
	Output  string
	JSON    bool
	NoColor bool
	Verbose bool
	Timeout time.Duration
}

// Main runs edgectl with os.Args and returns the process exit code.
func Main(version string) int {
	f := &Factory{Version: version, Stdout: os.Stdout, Stderr: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return Run(ctx, f, os.Args[1:])
}

// Run executes the command line args and returns the exit code.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil && ee.Err.Error() != "" {
			fmt.Fprintf(f.Stderr, "edgectl: %v\n", ee.Err)
		}
		return ee.Code
	}
	// cobra's own errors (unknown flag, bad argument count) are usage errors.
	fmt.Fprintf(f.Stderr, "edgectl: %v\n", err)
	return ExitUsage
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	g := &GlobalOptions{}
	root := &cobra.Command{
		Use:           "edgectl",
		Short:         "Run and operate dual-stack edge proxies on a VPS fleet",
		Long:          "edgectl is one binary: the on-host agent (a dual-stack reverse proxy with\nupstream failover) and the tools that deploy, diagnose and watch it across a fleet.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       f.Version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.JSON {
				g.Output = "json"
			}
			if g.Output != "text" && g.Output != "json" {
				return usageError(fmt.Errorf("--output must be text or json, not %q", g.Output))
			}
			if os.Getenv("NO_COLOR") != "" {
				g.NoColor = true
			}
			return nil
		},
	}
	root.SetOut(f.Stdout)
	root.SetErr(f.Stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.Output, "output", "o", "text", "output format: text or json")
	pf.BoolVar(&g.JSON, "json", false, "shorthand for --output json")
	pf.BoolVar(&g.NoColor, "no-color", false, "disable colour (also NO_COLOR)")
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "log more detail to stderr")
	pf.DurationVar(&g.Timeout, "timeout", 0, "overall timeout for the command (0 = none)")

	root.AddCommand(newVersionCmd(f, g))
	root.AddCommand(newAgentCmd(f, g))
	root.AddCommand(newEndpointsCmd(f, g))
	root.AddCommand(newDeployCmd(f, g))
	root.AddCommand(newInstallCmd(f, g))
	root.AddCommand(newLockCmd(f, g))
	root.AddCommand(newSweepCmd(f, g))
	root.AddCommand(newDiagnoseCmd(f, g))
	root.AddCommand(newCertCmd(f, g))
	return root
}

// signalContext is canceled on SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// envOr returns the environment variable's value, or def when unset.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
