package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/yamlfile"
)

type installOptions struct {
	ConfigPath    string
	BackendName   string
	BackendExec   string
	BackendHealth string
	DryRun        bool
	HealthTimeout time.Duration
	Drain         time.Duration
	LockWait      time.Duration
	ForceUnlock   bool
}

func newInstallCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &installOptions{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install or upgrade the agent on this host (what deploy does, without SSH)",
		Long: `Install the agent on the machine edgectl runs on, exactly as deploy would
over SSH: this binary to /usr/local/bin/edgectl, agent.yaml, endpoints.txt,
the edgectl-agent systemd unit and, with --backend-exec, the backend's unit;
the previous version of each file kept as <file>.prev (a checksummed hard
link); then the health gate on [::1] and 127.0.0.1, with a rollback when it
fails. It takes the host's lock (/var/lib/edgectl/lock) like deploy and
keeps the same journal (/var/lib/edgectl/deploy.json), so an install or a
deploy that was interrupted is completed or rolled back by the next one.
Run as root on a host with systemd. Running it again with nothing changed
changes nothing.`,
		Example: `  # install with ./agent.yaml
  sudo edgectl install --config ./agent.yaml

  # and the application backend, bound dual-stack
  sudo edgectl install --config ./agent.yaml --backend-name mop-api \
    --backend-exec '/opt/mop/venv/bin/uvicorn app.main:app --host :: --port 8000' \
    --backend-health 'http://[::1]:8000/health'

  # see what would change
  edgectl install --config ./agent.yaml --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (opts.BackendName == "") != (opts.BackendExec == "") {
				return usageError(errors.New("--backend-name and --backend-exec go together"))
			}
			return installRun(cmd.Context(), f, g, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.ConfigPath, "config", "c", "agent.yaml", "agent.yaml to install")
	fl.StringVar(&opts.BackendName, "backend-name", "", "systemd unit name of the application backend to install")
	fl.StringVar(&opts.BackendExec, "backend-exec", "", "the backend's command line (absolute path first); bind it dual-stack")
	fl.StringVar(&opts.BackendHealth, "backend-health", "", "the backend's health URL, checked from this host")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "show the plan with diffs and change nothing")
	fl.DurationVar(&opts.HealthTimeout, "health-timeout", 30*time.Second, "how long the agent gets to become healthy before a rollback")
	fl.DurationVar(&opts.Drain, "drain", 10*time.Second, "drain time before a restart")
	fl.DurationVar(&opts.LockWait, "lock-wait", 0, "how long to wait for a lock held by another run (0: stop at once, naming the holder)")
	fl.BoolVar(&opts.ForceUnlock, "force-unlock", false, "remove a lock held by another run (its holder is shown); only when that run is dead")
	return cmd
}

func installRun(ctx context.Context, f *Factory, g *GlobalOptions, opts *installOptions) error {
	data, err := os.ReadFile(opts.ConfigPath)
	if err != nil {
		return usageError(fmt.Errorf("read agent config: %w", err))
	}
	cfg, err := agentconfig.Parse(opts.ConfigPath, data)
	if err != nil {
		var ye *yamlfile.Error
		if errors.As(err, &ye) {
			return usageError(errors.New("invalid agent config:\n" + ye.Error()))
		}
		return usageError(err)
	}
	fl := &fleet.Fleet{Agent: *cfg, AgentYAML: data,
		Hosts:   []fleet.Host{{Name: "localhost"}},
		Rollout: fleet.Rollout{Batch: 1, HealthTimeout: opts.HealthTimeout, Drain: opts.Drain}}
	if opts.BackendName != "" {
		fl.Backend = &fleet.Backend{Name: opts.BackendName, Exec: opts.BackendExec, Health: opts.BackendHealth}
	}
	bins, err := provision.NewBinaries("")
	if err != nil {
		return &ExitError{Code: ExitProblem, Err: err}
	}
	local := func(bool) provision.Dialer {
		return func(context.Context, fleet.Host) (remote.Host, error) { return remote.Local{}, nil }
	}
	po := provision.Options{Layout: provision.DefaultLayout(), Binaries: bins, DryRun: opts.DryRun, Parallel: 1,
		Event: progress(f.IO, g, []string{"localhost"}), LockWait: opts.LockWait, ForceUnlock: opts.ForceUnlock,
		Holder: hostlock.Self(hostlock.KindInstall, "install --config "+opts.ConfigPath, 0)}
	r := &rollouter{f: f, g: g, fl: fl, hosts: fl.Hosts, dial: local}
	return r.run(ctx, po, false, nil)
}
