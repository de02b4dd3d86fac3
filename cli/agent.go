package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only when EDGECTL_PPROF is set
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/agentconfig"
)

type agentOptions struct {
	ConfigPath string
	CheckOnly  bool
	LogFormat  string
}

func newAgentCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the on-host dual-stack reverse proxy",
		Long: `Run the on-host agent: a dual-stack reverse proxy with upstream failover
(IPv6 preferred, IPv4 backup), active and passive health checks, keepalive
pools, WebSockets and streaming, an admin socket with /status and /metrics,
and a graceful drain on SIGTERM or Ctrl-C (a second Ctrl-C stops at once).

Logs go to stderr: readable lines on a terminal, JSON lines otherwise (the
journal, a pipe), or as --log-format says.

The subcommands talk to a running agent through its admin socket: the
admin: of --config (default /etc/edgectl/agent.yaml), or --admin SOCK.`,
		Example: `  # run with the default config
  edgectl agent

  # validate a config and exit (exit 2 with file:line:col on problems,
  # and on paths the installed systemd unit would not let the agent write)
  edgectl agent --config ./agent.yaml --check

  # talk to the running agent through its admin socket
  edgectl agent status
  edgectl agent status --config ./agent.yaml   # the socket named in that file
  edgectl agent reload     # what systemctl reload edgectl-agent does
  edgectl agent upgrade    # hand over to the binary now on disk`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{noTimeout: "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agentRun(cmd.Context(), f, g, opts)
		},
	}
	cmd.PersistentFlags().StringVarP(&opts.ConfigPath, "config", "c", envOr("EDGECTL_AGENT_CONFIG", agentconfig.DefaultPath), "agent.yaml to run (for the subcommands: where the admin socket is named)")
	cmd.Flags().BoolVar(&opts.CheckOnly, "check", false, "validate the config and exit")
	cmd.Flags().StringVar(&opts.LogFormat, "log-format", envOr("EDGECTL_LOG_FORMAT", "auto"), "log lines on stderr: text, json, or auto (text on a terminal, else json)")
	addAgentCtlCmds(cmd, f, g, &opts.ConfigPath)
	return cmd
}

func agentRun(ctx context.Context, f *Factory, g *GlobalOptions, opts *agentOptions) error {
	if opts.LogFormat != "auto" && opts.LogFormat != "text" && opts.LogFormat != "json" {
		return usageError(fmt.Errorf("--log-format must be auto, text or json, not %q", opts.LogFormat))
	}
	cfg, err := agentconfig.Load(opts.ConfigPath)
	if err != nil {
		return configError("agent config", err)
	}
	if opts.CheckOnly {
		res := agent.Check(cfg, agent.UnitFile)
		if g.Output == "json" {
			if len(res.Problems) > 0 {
				return usageError(errors.New("agent config would fail on this host:\n" + opts.ConfigPath + ": " +
					strings.Join(res.Problems, "\n"+opts.ConfigPath+": ")))
			}
			warnings := res.Warnings
			if warnings == nil {
				warnings = []string{}
			}
			return writeJSON(f.IO.Out, map[string]any{"config": opts.ConfigPath, "ok": true, "warnings": warnings})
		}
		var out strings.Builder
		for _, w := range res.Warnings {
			out.WriteString(opts.ConfigPath + ": warning: " + w + "\n")
		}
		if len(res.Problems) > 0 {
			_, _ = f.IO.Out.Write([]byte(out.String()))
			return usageError(errors.New("agent config would fail on this host:\n" + opts.ConfigPath + ": " +
				strings.Join(res.Problems, "\n"+opts.ConfigPath+": ")))
		}
		out.WriteString(opts.ConfigPath + ": ok\n")
		_, err := f.IO.Out.Write([]byte(out.String()))
		return err
	}
	pprofAddr := os.Getenv("EDGECTL_PPROF")
	if pprofAddr != "" {
		if err := agent.CheckPprofAddr(pprofAddr); err != nil {
			return usageError(err)
		}
	}
	log := agentLogger(f.IO, g, opts.LogFormat)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		if ctx.Err() == context.Canceled && f.IO.IsStderrTTY() {
			log.Info("stopping: draining connections (Ctrl-C again to stop at once)")
		}
		// A second SIGINT or SIGTERM gets the default action: exit now.
		stop()
	}()
	if pprofAddr != "" {
		// Profiling for performance work: loopback only, never by default.
		go func() { log.Warn("pprof", "error", http.ListenAndServe(pprofAddr, nil)) }()
	}
	a := agent.New(cfg, opts.ConfigPath, f.Version, log, f.IO.ErrOut)
	if err := a.Run(ctx); err != nil {
		return problemError(err)
	}
	return nil
}

// agentLogger writes the agent's logs to stderr: readable lines for a
// person at a terminal, JSON lines for the journal and log shippers.
func agentLogger(ios *IOStreams, g *GlobalOptions, format string) *slog.Logger {
	level := slog.LevelInfo
	if g.Verbose {
		level = slog.LevelDebug
	}
	if format == "json" || format == "auto" && !ios.IsStderrTTY() {
		return slog.New(slog.NewJSONHandler(ios.ErrOut, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(newTextHandler(ios.ErrOut, level, !g.NoColor && ios.IsStderrTTY()))
}
