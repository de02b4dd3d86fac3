package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/agentconfig"
)

// agentCtlOptions are the flags of the admin-socket subcommands.
type agentCtlOptions struct {
	// Admin is --admin: the socket itself.
	Admin string
	// Config is the agent command's --config: the socket is its admin:.
	Config *string
}

// socket finds the running agent's admin socket: --admin (or
// EDGECTL_ADMIN_SOCKET), else the admin: key of --config (or
// EDGECTL_AGENT_CONFIG, else /etc/edgectl/agent.yaml when it exists), else
// the default socket.
func (o *agentCtlOptions) socket(cmd *cobra.Command) (string, error) {
	if cmd.Flags().Changed("admin") || o.Admin != "" {
		return o.Admin, nil
	}
	path := *o.Config
	explicit := cmd.Flags().Changed("config") || os.Getenv("EDGECTL_AGENT_CONFIG") != ""
	cfg, err := agentconfig.Load(path)
	switch {
	case err == nil && cfg.Admin == "":
		return "", usageError(fmt.Errorf("%s turns the admin socket off (admin: \"\"), so the running agent cannot be reached; set admin: to a socket path, reload, or pass --admin SOCK", path))
	case err == nil:
		return cfg.Admin, nil
	case !explicit && errors.Is(err, fs.ErrNotExist):
		return agentconfig.DefaultAdmin, nil
	case errors.Is(err, fs.ErrNotExist):
		return "", usageError(fmt.Errorf("%v; pass the agent's config with --config FILE, or its socket with --admin SOCK", err))
	}
	return "", configError("agent config (pass --admin SOCK to skip it)", err)
}

// addAgentCtlCmds adds status, reload, upgrade, drain and undrain under
// `edgectl agent`: they talk to a running agent through its admin socket.
func addAgentCtlCmds(parent *cobra.Command, f *Factory, g *GlobalOptions, config *string) {
	opts := &agentCtlOptions{Config: config}
	parent.PersistentFlags().StringVar(&opts.Admin, "admin", os.Getenv("EDGECTL_ADMIN_SOCKET"), "admin socket of the running agent (default: the admin: of --config, else "+agentconfig.DefaultAdmin+")")
	simple := func(use, short string, run func(ctx context.Context, c *agent.Client) (string, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  noArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				sock, err := opts.socket(cmd)
				if err != nil {
					return err
				}
				msg, err := run(cmd.Context(), agent.NewClient(sock))
				if err != nil {
					return problemError(err)
				}
				if g.Output == "json" {
					return writeJSON(f.IO.Out, map[string]string{"status": msg})
				}
				_, err = fmt.Fprintln(f.IO.Out, msg)
				return err
			},
		}
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the running agent's status (listeners, upstreams, certificates)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sock, err := opts.socket(cmd)
			if err != nil {
				return err
			}
			st, err := agent.NewClient(sock).Status(cmd.Context())
			if err != nil {
				return problemError(err)
			}
			if g.Output == "json" {
				return writeJSON(f.IO.Out, st)
			}
			return printAgentStatus(f, g, st)
		},
	}
	parent.AddCommand(status,
		simple("reload", "Make the running agent re-read its config (rejected configs change nothing)", func(ctx context.Context, c *agent.Client) (string, error) {
			return "reloaded", c.Reload(ctx)
		}),
		simple("upgrade", "Hand the agent's sockets to the binary now on disk, without dropping a connection", func(ctx context.Context, c *agent.Client) (string, error) {
			return "upgraded", c.Upgrade(ctx)
		}),
		simple("drain", "Make the health path answer 503 while the agent keeps serving", func(ctx context.Context, c *agent.Client) (string, error) {
			return "draining", c.Drain(ctx, true)
		}),
		simple("undrain", "Make the health path answer 200 again after a drain", func(ctx context.Context, c *agent.Client) (string, error) {
			return "serving", c.Drain(ctx, false)
		}),
		newAgentPauseCmd(f, g, opts),
		newAgentResumeCmd(f, g, opts),
	)
}

// printAgentStatus writes the status line and the upstream table.
func printAgentStatus(f *Factory, g *GlobalOptions, st *agent.Status) error {
	w := f.IO.Out
	fmt.Fprintf(w, "agent %s, pid %d, config %s, %d reloads, %d connections", st.Version, st.PID, st.Config, st.Reloads, st.Connections)
	if st.Draining {
		fmt.Fprint(w, ", DRAINING")
	}
	fmt.Fprintln(w)
	if st.ReloadError != "" {
		fmt.Fprintf(w, "last reload rejected: %s\n", st.ReloadError)
	}
	rows := [][]string{}
	for _, u := range st.Upstreams {
		for _, s := range u.Peers {
			state := "ok"
			if s.State != "up" {
				state = "fail"
			}
			role := "primary"
			if s.Backup {
				role = "backup"
			}
			rows = append(rows, []string{u.Name, s.Addr, role, state, s.Reason})
		}
	}
	if len(rows) > 0 {
		if err := writeTable(w, g.color(f.IO), []string{"upstream", "server", "role", "state", "reason"}, rows); err != nil {
			return err
		}
	}
	printHolds(w, st.Upstreams)
	return nil
}
