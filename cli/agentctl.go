package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/agentconfig"
)

// agentCtlOptions are the flags of the admin-socket subcommands.
type agentCtlOptions struct {
	Socket string
}

// addAgentCtlCmds adds status, reload, upgrade, drain and undrain under
// `edgectl agent`: they talk to a running agent through its admin socket.
func addAgentCtlCmds(parent *cobra.Command, f *Factory, g *GlobalOptions) {
	opts := &agentCtlOptions{}
	parent.PersistentFlags().StringVar(&opts.Socket, "admin", envOr("EDGECTL_ADMIN_SOCKET", agentconfig.DefaultAdmin), "admin socket of the running agent (for status, reload, upgrade, drain)")
	simple := func(use, short string, run func(c *agent.Client, cmd *cobra.Command) (string, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				msg, err := run(agent.NewClient(opts.Socket), cmd)
				if err != nil {
					return &ExitError{Code: ExitProblem, Err: err}
				}
				if g.Output == "json" {
					return writeJSON(f.Stdout, map[string]string{"status": msg})
				}
				_, err = fmt.Fprintln(f.Stdout, msg)
				return err
			},
		}
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the running agent's status (listeners, upstreams, certificates)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := agent.NewClient(opts.Socket).Status(cmd.Context())
			if err != nil {
				return &ExitError{Code: ExitProblem, Err: err}
			}
			if g.Output == "json" {
				return writeJSON(f.Stdout, st)
			}
			fmt.Fprintf(f.Stdout, "agent %s, pid %d, config %s, %d reloads, %d connections", st.Version, st.PID, st.Config, st.Reloads, st.Connections)
			if st.Draining {
				fmt.Fprint(f.Stdout, ", DRAINING")
			}
			fmt.Fprintln(f.Stdout)
			if st.ReloadError != "" {
				fmt.Fprintf(f.Stdout, "last reload rejected: %s\n", st.ReloadError)
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
			if len(rows) == 0 {
				return nil
			}
			return writeTable(f.Stdout, useColor(f.Stdout, g), []string{"upstream", "server", "role", "state", "reason"}, rows)
		},
	}
	parent.AddCommand(status,
		simple("reload", "Make the running agent re-read its config (rejected configs change nothing)", func(c *agent.Client, cmd *cobra.Command) (string, error) {
			return "reloaded", c.Reload(cmd.Context())
		}),
		simple("upgrade", "Hand the agent's sockets to the binary now on disk, without dropping a connection", func(c *agent.Client, cmd *cobra.Command) (string, error) {
			return "upgraded", c.Upgrade(cmd.Context())
		}),
		simple("drain", "Make the health path answer 503 while the agent keeps serving", func(c *agent.Client, cmd *cobra.Command) (string, error) {
			return "draining", c.Drain(cmd.Context(), true)
		}),
		simple("undrain", "Make the health path answer 200 again after a drain", func(c *agent.Client, cmd *cobra.Command) (string, error) {
			return "serving", c.Drain(cmd.Context(), false)
		}),
	)
}
