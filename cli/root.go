// Package cli is edgectl's command-line layer: cobra commands that parse
// flags, call the domain packages and print their results. Nothing else in
// the module imports cobra.
package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/fleet"
)

// Factory holds what commands need from the outside world, so tests can
// swap it without package-level state.
type Factory struct {
	Version string
	// IO are the standard streams (SystemIO when nil).
	IO *IOStreams
	// FleetLoader reads and validates fleet.yaml (fleet.Load when nil).
	// Use LoadFleet, which words its errors.
	FleetLoader func(path string) (*fleet.Fleet, error)
}

// LoadFleet loads fleet.yaml; an invalid file is a usage error (exit 2)
// that lists every problem with file:line:col.
func (f *Factory) LoadFleet(path string) (*fleet.Fleet, error) {
	load := f.FleetLoader
	if load == nil {
		load = fleet.Load
	}
	fl, err := load(path)
	if err != nil {
		return nil, configError("fleet file", err)
	}
	return fl, nil
}

// GlobalOptions are the flags every command accepts.
type GlobalOptions struct {
	Output string
	// OutputFile is -o FILE on a command that writes a file (annotated
	// with outputFileAnnotation), where -o text|json still selects the
	// format.
	OutputFile string
	JSON       bool
	NoColor    bool
	Verbose    bool
	Timeout    time.Duration

	cancel context.CancelFunc // of the --timeout context
}

// noTimeout marks commands that run until stopped (the agent itself):
// --timeout does not apply to them.
const noTimeout = "edgectl/no-timeout"

// Main runs edgectl with os.Args and returns the process exit code.
func Main(version string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		// After the first Ctrl-C the command winds down (a deploy rolls
		// back); a second one gets the default action: exit at once.
		<-ctx.Done()
		stop()
	}()
	return Run(ctx, &Factory{Version: version, IO: SystemIO()}, os.Args[1:])
}

// Run executes the command line args and returns the exit code. Errors go
// to stderr as "edgectl: message"; with --json a command that fails
// before printing its result prints the error shape on stdout instead:
// {"error":{"message","exit_code","problems":[{"file","line","col","message"}]}}.
func Run(ctx context.Context, f *Factory, args []string) int {
	if f.IO == nil {
		f.IO = SystemIO()
	}
	out := &countingWriter{w: f.IO.Out}
	orig := f.IO.Out
	f.IO.Out = out
	defer func() { f.IO.Out = orig }()

	root, g := newRoot(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if g.cancel != nil {
		g.cancel()
	}
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	if (g.Output == "json" || wantsJSON(args)) && out.n == 0 {
		_ = writeJSON(out, errorJSON(err, code))
		return code
	}
	ee, _ := err.(*ExitError)
	if ee == nil || !ee.silent() {
		fmt.Fprintf(f.IO.ErrOut, "edgectl: %v\n", err)
	}
	if ae := asArgsError(err); ae != nil {
		fmt.Fprintln(f.IO.ErrOut, ae.usageHint())
	}
	return code
}

// wantsJSON reports whether args ask for JSON output, for errors that
// happen before the flags are parsed (an unknown flag, say).
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--json" || a == "--json=true" || a == "--output=json" || a == "-ojson" || a == "-o=json":
			return true
		case (a == "--output" || a == "-o") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root, _ := newRoot(f)
	return root
}

func newRoot(f *Factory) (*cobra.Command, *GlobalOptions) {
	if f.IO == nil {
		f.IO = SystemIO()
	}
	g := &GlobalOptions{}
	root := &cobra.Command{
		Use:           "edgectl",
		Short:         "Run and operate dual-stack edge proxies on a VPS fleet",
		Long:          "edgectl is one binary: the on-host agent (a dual-stack reverse proxy with\nupstream failover) and the tools that deploy, diagnose and watch it across a fleet.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       f.Version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.Output != "text" && g.Output != "json" && cmd.Annotations[outputFileAnnotation] != "" {
				g.OutputFile, g.Output = g.Output, "text"
			}
			if g.JSON {
				g.Output = "json"
			}
			if g.Output != "text" && g.Output != "json" {
				return usageError(&argsError{cmd, fmt.Errorf("--output must be text or json, not %q", g.Output)})
			}
			if os.Getenv("NO_COLOR") != "" {
				g.NoColor = true
			}
			if g.Timeout < 0 {
				return usageError(fmt.Errorf("--timeout must not be negative, not %v", g.Timeout))
			}
			if g.Timeout > 0 && cmd.Annotations[noTimeout] == "" {
				ctx, cancel := context.WithTimeout(cmd.Context(), g.Timeout)
				g.cancel = cancel
				cmd.SetContext(ctx)
			}
			return nil
		},
	}
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(&argsError{cmd, err})
	})
	pf := root.PersistentFlags()
	pf.StringVarP(&g.Output, "output", "o", "text", "output format: text or json (import nginx: the file to write)")
	pf.BoolVar(&g.JSON, "json", false, "shorthand for --output json")
	pf.BoolVar(&g.NoColor, "no-color", false, "disable colour (also NO_COLOR)")
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "log more detail to stderr")
	pf.DurationVar(&g.Timeout, "timeout", 0, "stop the command after this long, e.g. 2m (0 = no limit; not the agent itself)")

	root.AddCommand(newVersionCmd(f, g))
	root.AddCommand(newAgentCmd(f, g))
	root.AddCommand(newEndpointsCmd(f, g))
	root.AddCommand(newDeployCmd(f, g))
	root.AddCommand(newInstallCmd(f, g))
	root.AddCommand(newLockCmd(f, g))
	root.AddCommand(newSweepCmd(f, g))
	root.AddCommand(newDiagnoseCmd(f, g))
	root.AddCommand(newCertCmd(f, g))
	root.AddCommand(newDNSCmd(f, g))
	root.AddCommand(newImportCmd(f, g))
	registerFleetCompletions(root, f)
	return root, g
}

// color reports whether output on stdout gets colour.
func (g *GlobalOptions) color(ios *IOStreams) bool { return !g.NoColor && ios.IsStdoutTTY() }

// envOr returns the environment variable's value, or def when unset.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
