package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/provision"
)

type deployOptions struct {
	FleetPath   string
	DryRun      bool
	Yes         bool
	AcceptNew   bool
	Hosts       []string
	Label       string
	Parallel    int
	BinaryDir   string
	LockWait    time.Duration
	ForceUnlock bool
	Takeover    bool

	// Dial replaces SSH in tests; nil dials with fleet.yaml's ssh:.
	Dial provision.Dialer
	// NewProvider builds rollout.dns_drain's DNS provider (nil: the dns:
	// section's, credentials from the environment).
	NewProvider func(f *fleet.Fleet) (dnsrecords.Provider, error)
	// Stdin answers the confirmation prompt.
	Stdin io.Reader
}

func newDeployCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy fleet.yaml",
		Short: "Install or upgrade the agent on every host over SSH, rolling and health-gated",
		Long: `Make every host of fleet.yaml look like the file says, over SSH.

deploy connects to every host, takes each host's lock
(/var/lib/edgectl/lock: who, from where, since when, pid, command), and
gathers facts under it: architecture, systemd, bindv6only, IPv6, the files
it manages with their owner and mode, the config the running agent loaded,
whether the agent and the backend run, free space, and the journal of the
last deploy. A host is "unchanged" only when all of that is as it should be.

Hosts change rollout.batch at a time. For each, deploy writes its journal
(/var/lib/edgectl/deploy.json), keeps every file it replaces as
<file>.prev (a hard link, checksummed), uploads the new files under
temporary names with their final owner and mode, checks the new agent.yaml
with the new binary on the host, renames the files into place and makes
the agent take them: hot reload for a config, zero-downtime upgrade for a
binary, drain and restart for a unit, start for a first install. Then the
gate: the agent's health over SSH on [::1] and 127.0.0.1 with every
upstream server live, the config the agent runs, the backend's health and
unit, and the host's public IPv4 and IPv6 answering from here, within
rollout.health_timeout. A unit that fails or restart-loops fails the gate
at once. A host that fails is rolled back to its verified backups and the
rollout stops; hosts not reached are
not touched. The gate and the rollback dial the host again when the SSH
connection breaks.

A deploy that was interrupted (killed, cut off, a second signal) leaves
the journal; the next deploy completes it and runs the gate, or rolls the
host back to the backups the interrupted run made. SIGINT and SIGTERM stop
at the next safe point and roll back the hosts being changed; a second
signal exits at once.

With rollout.dns_drain: true (and a dns: section), each host's A and AAAA
records leave the dns: names first (never the last dns.min_healthy of a
family: such a record stays, and the host is deployed with it in, saying
so), the host waits the records' TTL (at most 5 minutes; shown live), is
deployed and gated, and its records go back. A host whose gate fails is
rolled back and its records stay out, said in its result and the summary.
What was taken out is listed in /var/lib/edgectl/dns-drain.json on the host
until it is back, so the next deploy puts back what an interrupted one left
out, once the host passes its gate. The provider's credentials come from
the environment, as for edgectl dns; a provider that cannot be used stops
the deploy before any host is touched. --dry-run shows the records that
would be taken out.

Where another program (nginx, caddy, haproxy) listens on a port the agent
must listen on, the plan is a cutover, and deploy stops before anything is
written on any host, naming each host, port, family, program and unit,
with exit status 2 and the command to run: the same with --takeover. With
--takeover the files are written as for an install, then one command on
the host disables and stops the old proxy's unit and starts the agent, and
the gate runs. A failed gate (or any error once the old proxy stopped)
stops the agent and enables and starts the old proxy again. Nothing of the
old proxy is removed: its configuration stays on disk. A deploy killed in
the middle of a cutover is completed by the next deploy of that host (no
--takeover needed), which restores the old proxy if its gate fails.

Another run's lock stops the deploy before anything is written, naming the
holder (--lock-wait waits for it; --force-unlock removes it, showing whose
it was; see also edgectl lock). A lock left by a deploy of this machine
whose process is gone is taken over, and the output says so.

Host keys are always checked against ssh.known_hosts; an unknown or changed
key, or a login that fails, stops the deploy before anything is written
(--accept-new records unknown keys; with --dry-run it trusts them for that
run only and writes nothing anywhere). On a terminal, deploy shows the plan
and asks before changing anything unless --yes is given.

Exit status: 0 every host converged or unchanged, 1 no host converged (or
nothing was attempted: SSH set-up, a held lock), 2 invalid fleet.yaml or
flags, or another program holds the agent's ports and --takeover was not
given), 3 some hosts converged and others did not.`,
		Example: `  # what would change, with diffs, touching nothing (not even known_hosts)
  edgectl deploy fleet.yaml --dry-run

  # roll out to every host, no questions (CI, cron)
  edgectl deploy fleet.yaml --yes

  # first contact with new hosts: record their SSH host keys
  edgectl deploy fleet.yaml --accept-new --hosts cn2-sh,cn2-gz

  # wait up to 5 minutes for another operator's deploy to finish
  edgectl deploy fleet.yaml --yes --lock-wait 5m

  # hosts leave DNS while they are deployed (rollout.dns_drain: true)
  export CLOUDFLARE_DNS_API_TOKEN=...
  edgectl deploy fleet.yaml --yes

  # replace nginx on a host built by the old install.sh (see edgectl import nginx)
  edgectl deploy fleet.yaml --takeover --hosts cn2-sh

  # only the hosts labelled cn2, 10 connections at once
  edgectl deploy fleet.yaml --label cn2 --parallel 10 --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.FleetPath = args[0]
			if opts.Parallel < 1 {
				return usageError(fmt.Errorf("--parallel must be at least 1, not %d", opts.Parallel))
			}
			if opts.LockWait < 0 {
				return usageError(fmt.Errorf("--lock-wait must not be negative"))
			}
			return deployRun(cmd.Context(), f, g, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.DryRun, "dry-run", false, "show the plan with diffs and change nothing anywhere")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation on a terminal")
	fl.BoolVar(&opts.AcceptNew, "accept-new", false, "record the SSH host keys of hosts not yet in known_hosts (changed keys are never accepted)")
	fl.StringSliceVar(&opts.Hosts, "hosts", nil, "only these hosts (comma-separated names)")
	fl.StringVar(&opts.Label, "label", "", "only hosts with this label")
	fl.IntVar(&opts.Parallel, "parallel", 10, "hosts connected to and planned at once")
	fl.StringVar(&opts.BinaryDir, "binary-dir", envOr("EDGECTL_BINARY_DIR", ""), "where edgectl-linux-<arch> binaries for other architectures are (default: next to this binary, then ./dist)")
	fl.DurationVar(&opts.LockWait, "lock-wait", 0, "how long to wait for a host locked by another run (0: stop at once, naming the holder)")
	fl.BoolVar(&opts.Takeover, "takeover", false, "stop and disable another proxy (a systemd service: nginx, caddy, haproxy) that holds the agent's ports and start the agent in its place; a failed gate brings it back")
	fl.BoolVar(&opts.ForceUnlock, "force-unlock", false, "remove a lock held by another run (its holder is shown); only when that run is dead")
	return cmd
}

func deployRun(ctx context.Context, f *Factory, g *GlobalOptions, opts *deployOptions) error {
	fl, err := f.LoadFleet(opts.FleetPath)
	if err != nil {
		return err
	}
	hosts, err := fl.Select(opts.Hosts, opts.Label)
	if err != nil {
		return usageError(err)
	}
	bins, err := provision.NewBinaries(opts.BinaryDir)
	if err != nil {
		return &ExitError{Code: ExitProblem, Err: err}
	}
	dial := func(dry bool) provision.Dialer {
		if opts.Dial != nil {
			return opts.Dial
		}
		// A short keepalive finds a dead connection within seconds.
		return sshDialer(fl, sshOptions{AcceptNew: opts.AcceptNew, ReadOnly: dry, KeepAlive: 5 * time.Second}, f.IO)
	}
	po := provision.Options{Layout: provision.DefaultLayout(), Binaries: bins, DryRun: opts.DryRun, Parallel: opts.Parallel,
		Public: true, Event: thinCountdowns(f.IO, progress(f.IO, g, hostNames(hosts))), LockWait: opts.LockWait, ForceUnlock: opts.ForceUnlock,
		Holder: hostlock.Self(hostlock.KindDeploy, commandLine("deploy", opts.FleetPath, opts.Hosts, opts.Label), 0), Takeover: opts.Takeover}
	if opts.Takeover {
		po.Holder = hostlock.Self(hostlock.KindTakeover, commandLine("deploy", opts.FleetPath, opts.Hosts, opts.Label)+" --takeover", 0)
	}
	if fl.Rollout.DNSDrain {
		if fl.DNS == nil {
			return usageError(errNoDNS)
		}
		// The provider must answer before any host is touched.
		if po.DNSDrain, err = dnsDrainSetup(ctx, fl, opts.NewProvider); err != nil {
			return err
		}
	}
	if opts.Stdin == nil && f.IO.IsStdinTTY() {
		opts.Stdin = f.IO.In
	}
	confirm := !opts.Yes && !opts.DryRun && g.Output != "json" && f.IO.IsStdoutTTY() && opts.Stdin != nil
	r := &rollouter{f: f, g: g, fl: fl, hosts: hosts, fleetPath: opts.FleetPath, dial: dial,
		takeover: "edgectl " + commandLine("deploy", opts.FleetPath, opts.Hosts, opts.Label) + " --takeover"}
	return r.run(ctx, po, confirm, opts.Stdin)
}

// commandLine is what a lock and a journal say the run is.
func commandLine(cmd, fleetPath string, hosts []string, label string) string {
	s := cmd + " " + fleetPath
	if len(hosts) > 0 {
		s += " --hosts " + strings.Join(hosts, ",")
	}
	if label != "" {
		s += " --label " + label
	}
	return s
}

// run does the rollout (after a confirmed dry run when asked). The first
// SIGINT or SIGTERM stops every host at its next safe point (hosts being
// changed roll back); a second exits at once, leaving each host's journal
// for the next run.
func (r *rollouter) run(ctx context.Context, po provision.Options, confirm bool, stdin io.Reader) error {
	// The run's own signal handling decides when to stop: the command's
	// context (cancelled on SIGINT) must not cut remote steps in half.
	ctx = context.WithoutCancel(ctx)
	if r.g.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.g.Timeout)
		defer cancel()
	}
	stop, cancelStop := context.WithCancel(context.Background())
	defer cancelStop()
	done := make(chan struct{})
	defer close(done)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go r.signals(sigs, done, cancelStop)
	po.Stop, po.Step = stop, testPause(r.f.IO.ErrOut)

	start := time.Now()
	po.Dial = r.dial(po.DryRun || confirm)
	dry := po.DryRun
	po.DryRun = dry || confirm
	res, err := provision.Deploy(ctx, r.fl, r.hosts, po)
	if err == nil && confirm && stop.Err() == nil {
		printPlans(r.f.IO.Out, res)
		n := 0
		for _, h := range res.Hosts {
			if h.Status == provision.StatusPlanned {
				n++
			}
		}
		if n == 0 {
			return r.print(res, time.Since(start), nil)
		}
		if !askYes(r.f.IO, fmt.Sprintf("Apply to %d host(s)?", n)) {
			return &ExitError{Code: ExitProblem, Err: errors.New("deploy cancelled; nothing was changed")}
		}
		po.DryRun, po.Dial = false, r.dial(false)
		start = time.Now()
		res, err = provision.Deploy(ctx, r.fl, r.hosts, po)
	}
	if err == nil && dry && r.g.Output != "json" { // JSON has the plans in hosts[].plan
		printPlans(r.f.IO.Out, res)
	}
	return r.print(res, time.Since(start), err)
}
