package cli

import (
	"errors"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only when EDGECTL_PPROF is set
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/yamlfile"
)

type agentOptions struct {
	ConfigPath string
	CheckOnly  bool
}

func newAgentCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the on-host dual-stack reverse proxy",
		Long: `Run the on-host agent: a dual-stack reverse proxy with upstream failover
(IPv6 preferred, IPv4 backup), active and passive health checks, keepalive
pools, WebSockets and streaming, an admin socket with /status and /metrics,
and a graceful drain on SIGTERM.`,
		Example: `  # run with the default config
  edgectl agent

  # validate a config and exit (exit 2 with file:line:col on problems,
  # and on paths the installed systemd unit would not let the agent write)
  edgectl agent --config ./agent.yaml --check

  # talk to the running agent through its admin socket
  edgectl agent status
  edgectl agent reload     # what systemctl reload edgectl-agent does
  edgectl agent upgrade    # hand over to the binary now on disk`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agentRun(cmd, f, g, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.ConfigPath, "config", "c", envOr("EDGECTL_AGENT_CONFIG", agentconfig.DefaultPath), "agent.yaml to run")
	cmd.Flags().BoolVar(&opts.CheckOnly, "check", false, "validate the config and exit")
	addAgentCtlCmds(cmd, f, g)
	return cmd
}

func agentRun(cmd *cobra.Command, f *Factory, g *GlobalOptions, opts *agentOptions) error {
	cfg, err := agentconfig.Load(opts.ConfigPath)
	if err != nil {
		var ye *yamlfile.Error
		if errors.As(err, &ye) {
			return usageError(errors.New("invalid agent config:\n" + ye.Error()))
		}
		return usageError(err)
	}
	if opts.CheckOnly {
		res := agent.Check(cfg, agent.UnitFile)
		var out strings.Builder
		for _, w := range res.Warnings {
			out.WriteString(opts.ConfigPath + ": warning: " + w + "\n")
		}
		if len(res.Problems) > 0 {
			_, _ = f.Stdout.Write([]byte(out.String()))
			return usageError(errors.New("agent config would fail on this host:\n" + opts.ConfigPath + ": " +
				strings.Join(res.Problems, "\n"+opts.ConfigPath+": ")))
		}
		out.WriteString(opts.ConfigPath + ": ok\n")
		_, err := f.Stdout.Write([]byte(out.String()))
		return err
	}
	pprofAddr := os.Getenv("EDGECTL_PPROF")
	if pprofAddr != "" {
		if err := agent.CheckPprofAddr(pprofAddr); err != nil {
			return usageError(err)
		}
	}
	level := slog.LevelInfo
	if g.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(f.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	if pprofAddr != "" {
		// Profiling for performance work: loopback only, never by default.
		go func() { log.Warn("pprof", "error", http.ListenAndServe(pprofAddr, nil)) }()
	}
	a := agent.New(cfg, opts.ConfigPath, f.Version, log, f.Stderr)
	if err := a.Run(ctx); err != nil {
		return &ExitError{Code: ExitProblem, Err: err}
	}
	return nil
}
