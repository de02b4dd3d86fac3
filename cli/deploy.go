package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/yamlfile"
)

type deployOptions struct {
	FleetPath string
	DryRun    bool
	Yes       bool
	AcceptNew bool
	Hosts     []string
	Label     string
	Parallel  int
	BinaryDir string

	// Dial replaces SSH in tests; nil uses fleetDialer.
	Dial provision.Dialer
	// Stdin answers the confirmation prompt.
	Stdin io.Reader
}

func newDeployCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &deployOptions{Stdin: stdinIfTerminal()}
	cmd := &cobra.Command{
		Use:   "deploy fleet.yaml",
		Short: "Install or upgrade the agent on every host over SSH, rolling and health-gated",
		Long: `Make every host of fleet.yaml look like the file says, over SSH.

For each host deploy gathers facts (architecture, systemd, bindv6only, IPv6,
what is installed) and plans: the edgectl binary for the host's
architecture, agent.yaml, endpoints.txt, the systemd unit, the backend unit
and a sysctl drop-in where one is needed. Files are written to a temporary
name and renamed; the previous version of each is kept as <file>.prev.

Hosts change rollout.batch at a time. A config change is applied with the
agent's hot reload, a new binary with its zero-downtime upgrade, a unit
change with a drain and a restart, a first install by starting it. Then the
gate: the agent's health over SSH on [::1] and 127.0.0.1, every upstream
with all servers live, the backend's health, and the host's public IPv4 and
IPv6 answering from here. A host that fails the gate within
rollout.health_timeout is rolled back and the rollout stops; hosts not yet
reached are not touched.

Host keys are always checked against ssh.known_hosts; an unknown or changed
key stops the deploy before anything is written (--accept-new records
unknown keys). On a terminal, deploy shows the plan and asks before
changing anything unless --yes is given.

Exit status: 0 every host converged or unchanged, 1 nothing was done (bad
host key, an error before the rollout), 2 invalid fleet.yaml or flags,
3 the rollout stopped or some hosts failed or were unreachable.`,
		Example: `  # what would change, with diffs, touching nothing
  edgectl deploy fleet.yaml --dry-run

  # roll out to every host, no questions (CI, cron)
  edgectl deploy fleet.yaml --yes

  # first contact with new hosts: record their SSH host keys
  edgectl deploy fleet.yaml --accept-new --hosts cn2-sh,cn2-gz

  # only the hosts labelled cn2, 10 connections at once
  edgectl deploy fleet.yaml --label cn2 --parallel 10 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.FleetPath = args[0]
			if opts.Parallel < 1 {
				return usageError(fmt.Errorf("--parallel must be at least 1, not %d", opts.Parallel))
			}
			return deployRun(cmd.Context(), f, g, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.DryRun, "dry-run", false, "show the plan with diffs and change nothing")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation on a terminal")
	fl.BoolVar(&opts.AcceptNew, "accept-new", false, "record the SSH host keys of hosts not yet in known_hosts (changed keys are never accepted)")
	fl.StringSliceVar(&opts.Hosts, "hosts", nil, "only these hosts (comma-separated names)")
	fl.StringVar(&opts.Label, "label", "", "only hosts with this label")
	fl.IntVar(&opts.Parallel, "parallel", 10, "hosts connected to and planned at once")
	fl.StringVar(&opts.BinaryDir, "binary-dir", envOr("EDGECTL_BINARY_DIR", ""), "where edgectl-linux-<arch> binaries for other architectures are (default: next to this binary, then ./dist)")
	return cmd
}

// loadFleet loads fleet.yaml, turning its problems into a usage error.
func loadFleet(path string) (*fleet.Fleet, error) {
	f, err := fleet.Load(path)
	if err != nil {
		var ye *yamlfile.Error
		if errors.As(err, &ye) {
			return nil, usageError(fmt.Errorf("invalid fleet file:\n%s", ye.Error()))
		}
		return nil, usageError(err)
	}
	return f, nil
}

func deployRun(ctx context.Context, f *Factory, g *GlobalOptions, opts *deployOptions) error {
	fl, err := loadFleet(opts.FleetPath)
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
	dial := opts.Dial
	if dial == nil {
		dial = fleetDialer(fl, opts.AcceptNew)
	}
	po := provision.Options{Layout: provision.DefaultLayout(), Binaries: bins, Dial: dial,
		DryRun: opts.DryRun, Parallel: opts.Parallel, Public: true, Event: progress(f.Stderr, g, hostNames(hosts))}
	confirm := !opts.Yes && !opts.DryRun && g.Output != "json" && isTerminal(f.Stdout) && opts.Stdin != nil
	if confirm {
		po.DryRun = true
	}
	return rollout(ctx, f, g, fl, hosts, po, confirm, opts.Stdin)
}

// rollout runs provision.Deploy (after a confirmed dry run when asked) and
// prints the result; shared by deploy and install.
func rollout(ctx context.Context, f *Factory, g *GlobalOptions, fl *fleet.Fleet, hosts []fleet.Host, po provision.Options, confirm bool, stdin io.Reader) error {
	if g.Timeout > 0 {
		// A host still changing when the time is up is rolled back.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.Timeout)
		defer cancel()
	}
	start := time.Now()
	res, err := provision.Deploy(ctx, fl, hosts, po)
	if err == nil && confirm {
		printPlans(f.Stdout, res)
		n := 0
		for _, h := range res.Hosts {
			if h.Status == provision.StatusPlanned {
				n++
			}
		}
		if n == 0 {
			return printRollout(f, g, res, time.Since(start), nil)
		}
		fmt.Fprintf(f.Stdout, "Apply to %d host(s)? [y/N] ", n)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return &ExitError{Code: ExitProblem, Err: errors.New("deploy cancelled; nothing was changed")}
		}
		po.DryRun = false
		start = time.Now()
		res, err = provision.Deploy(ctx, fl, hosts, po)
	}
	if err == nil && po.DryRun {
		printPlans(f.Stdout, res)
	}
	return printRollout(f, g, res, time.Since(start), err)
}

func printPlans(w io.Writer, res *provision.Result) {
	for _, h := range res.Hosts {
		if h.Plan == nil || h.Status != provision.StatusPlanned {
			continue
		}
		fmt.Fprintf(w, "== %s: %s (%s)\n", h.Name, h.Summary, h.Plan.BinaryNote)
		for _, c := range h.Plan.Files {
			if c.Diff != "" {
				fmt.Fprintln(w, strings.TrimRight(c.Diff, "\n"))
			}
		}
	}
}

func printRollout(f *Factory, g *GlobalOptions, res *provision.Result, took time.Duration, err error) error {
	code := ExitOK
	if res != nil {
		for _, h := range res.Hosts {
			switch h.Status {
			case provision.StatusRolledBack, provision.StatusFailed, provision.StatusUnreachable, provision.StatusSkipped:
				code = ExitPartial
			}
		}
	}
	if err != nil {
		code = ExitProblem
	}
	if g.Output == "json" {
		out := struct {
			*provision.Result
			Status   string  `json:"status"`
			Error    string  `json:"error,omitempty"`
			Duration float64 `json:"duration_seconds"`
		}{Result: res, Status: map[int]string{0: "ok", 1: "failed", 3: "partial"}[code], Duration: took.Seconds()}
		if out.Result == nil {
			out.Result = &provision.Result{}
		}
		if err != nil {
			out.Error = err.Error()
		}
		if werr := writeJSON(f.Stdout, out); werr != nil {
			return werr
		}
		if code != ExitOK {
			return &ExitError{Code: code, Err: errors.New("")}
		}
		return nil
	}
	if res != nil && len(res.Hosts) > 0 {
		rows := make([][]string, 0, len(res.Hosts))
		for _, h := range res.Hosts {
			st := h.Status
			rows = append(rows, []string{h.Name, st, h.Summary, h.Duration.Round(10 * time.Millisecond).String()})
		}
		writeTable(f.Stdout, useColor(f.Stdout, g), []string{"host", "status", "change", "time"}, rows)
		for _, h := range res.Hosts {
			if h.Error != "" {
				fmt.Fprintf(f.Stdout, "%s: %s\n", h.Name, h.Error)
			}
		}
		fmt.Fprintf(f.Stdout, "%s in %s\n", tally(res), took.Round(10*time.Millisecond))
	}
	if err != nil {
		return &ExitError{Code: code, Err: err}
	}
	if code != ExitOK {
		return &ExitError{Code: code, Err: errors.New("")}
	}
	return nil
}

func tally(res *provision.Result) string {
	counts := map[string]int{}
	var order []string
	for _, h := range res.Hosts {
		if counts[h.Status] == 0 {
			order = append(order, h.Status)
		}
		counts[h.Status]++
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("%d %s", counts[s], s)
	}
	return fmt.Sprintf("%d host(s): %s", len(res.Hosts), strings.Join(parts, ", "))
}

// stdinIfTerminal is os.Stdin when it is a terminal (for the prompt).
func stdinIfTerminal() io.Reader {
	if isTerminal(os.Stdin) {
		return os.Stdin
	}
	return nil
}
