package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/provision"
)

type lockOptions struct {
	FleetPath string
	Hosts     []string
	Label     string
	Release   bool
	// Dial replaces SSH in tests.
	Dial provision.Dialer
}

func newLockCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &lockOptions{}
	parent := &cobra.Command{
		Use:   "lock",
		Short: "Show or release the per-host lock that deploy, install and cert take",
		Long: `Every run that changes a host (deploy, install, cert distribution) first
takes the host's lock, /var/lib/edgectl/lock: who (user@machine), from where
(the address the host saw), since when, pid, command and the run's maximum
time. A second run stops naming the holder, or waits with --lock-wait.

A lock older than its run's maximum time is stale: that run has probably
died. Stale locks are shown, never taken silently (a deploy from the machine
whose run died takes its own dead lock over, and says so).

status also shows a deploy that was interrupted (its journal,
/var/lib/edgectl/deploy.json, did not finish): the next deploy completes it
or rolls it back.`,
	}
	for _, release := range []bool{false, true} {
		use, short := "status fleet.yaml", "Show who holds each host's lock, and interrupted deploys"
		if release {
			use, short = "release fleet.yaml", "Remove each host's lock, showing whose it was (only when its run is dead)"
		}
		cmd := &cobra.Command{
			Use:   use,
			Short: short,
			Example: `  edgectl lock status fleet.yaml
  edgectl lock status fleet.yaml --hosts cn2-sh --json
  edgectl lock release fleet.yaml --hosts cn2-sh`,
			Args: exactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				o := *opts
				o.FleetPath, o.Release = args[0], release
				return lockRun(cmd.Context(), f, g, &o)
			},
		}
		cmd.Flags().StringSliceVar(&opts.Hosts, "hosts", nil, "only these hosts (comma-separated names)")
		cmd.Flags().StringVar(&opts.Label, "label", "", "only hosts with this label")
		parent.AddCommand(cmd)
	}
	return parent
}

// lockHost is one host's line of `lock status|release --json`.
type lockHost struct {
	Name string `json:"name"`
	// Lock is what the lock file says (held false: no lock).
	Lock *hostlock.Status `json:"lock,omitempty"`
	// Released is true when release removed a lock.
	Released bool `json:"released,omitempty"`
	// Interrupted is the journal of a deploy that did not finish.
	Interrupted *provision.Journal `json:"interrupted,omitempty"`
	Error       string             `json:"error,omitempty"`
}

func lockRun(ctx context.Context, f *Factory, g *GlobalOptions, opts *lockOptions) error {
	fl, err := f.LoadFleet(opts.FleetPath)
	if err != nil {
		return err
	}
	hosts, err := fl.Select(opts.Hosts, opts.Label)
	if err != nil {
		return usageError(err)
	}
	dial := opts.Dial
	if dial == nil {
		dial = fleetDialer(fl, false, f.IO)
	}
	if g.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.Timeout)
		defer cancel()
	}
	layout := provision.DefaultLayout()
	out := make([]lockHost, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { out[i] = lockOne(ctx, dial, h, layout, opts.Release) })
	}
	wg.Wait()
	failed := 0
	for _, h := range out {
		if h.Error != "" {
			failed++
		}
	}
	code := ExitOK
	switch {
	case failed == len(out) && failed > 0:
		code = ExitProblem
	case failed > 0:
		code = ExitPartial
	}
	if g.Output == "json" {
		if err := writeJSON(f.IO.Out, map[string]any{"hosts": out}); err != nil {
			return err
		}
	} else {
		printLocks(f, g, out, opts)
	}
	if code != ExitOK {
		return &ExitError{Code: code, Err: fmt.Errorf("could not read the lock of %d of %d host(s); see above", failed, len(out))}
	}
	return nil
}

func lockOne(ctx context.Context, dial provision.Dialer, h fleet.Host, l provision.Layout, release bool) lockHost {
	r := lockHost{Name: h.Name}
	conn, err := dial(ctx, h)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer conn.Close()
	var st hostlock.Status
	if release {
		st, err = hostlock.Remove(ctx, conn, l.Lock())
		r.Released = err == nil && st.Held
	} else {
		st, err = hostlock.Read(ctx, conn, l.Lock())
	}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Lock = &st
	data, err := conn.ReadFile(ctx, l.Journal())
	var j provision.Journal
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		r.Error = "read the journal: " + err.Error()
	case json.Unmarshal(data, &j) == nil && !j.Finished():
		r.Interrupted = &j
	}
	return r
}

func printLocks(f *Factory, g *GlobalOptions, hosts []lockHost, opts *lockOptions) {
	release := opts.Release
	rows := make([][]string, 0, len(hosts))
	for _, h := range hosts {
		state, holder, command, since, age, maxT := "free", "", "", "", "", ""
		switch {
		case h.Error != "":
			state = "unknown"
		case h.Lock != nil && h.Lock.Held:
			state = "held"
			if h.Lock.Stale {
				state = "stale"
			}
			if h.Lock.Gone {
				state = "dead holder"
			}
			if release {
				state = "released"
			}
			hl := h.Lock.Holder
			holder = hl.Who()
			if h.Lock.Origin != "" {
				holder += " from " + h.Lock.Origin
			}
			command = fmt.Sprintf("%s (pid %d)", hl.Command, hl.PID)
			since = h.Lock.Since.UTC().Format(time.DateTime + " UTC")
			age = h.Lock.Age.Round(time.Second).String()
			maxT = hl.Max().Round(time.Second).String()
		}
		rows = append(rows, []string{h.Name, state, holder, command, since, age, maxT})
	}
	fitColumn(rows, 3, stdoutWidth(f.IO), 7)
	writeTable(f.IO.Out, g.color(f.IO), []string{"host", "lock", "holder", "command", "since", "age", "max"}, rows)
	for _, h := range hosts {
		if h.Error != "" {
			fmt.Fprintf(f.IO.Out, "%s: %s\n", h.Name, h.Error)
		}
		if h.Lock != nil && h.Lock.Held && h.Lock.Stale && !release {
			fmt.Fprintf(f.IO.Out, "%s: the lock is older than its run's maximum of %s: that run has probably died; check with %s, then: edgectl lock release %s --hosts %s\n",
				h.Name, h.Lock.Holder.Max().Round(time.Second), h.Lock.Holder.Who(), opts.FleetPath, h.Name)
		}
		if j := h.Interrupted; j != nil {
			fmt.Fprintf(f.IO.Out, "%s: interrupted: %s; the next deploy completes it or rolls it back\n", h.Name, j.Describe())
		}
	}
}
