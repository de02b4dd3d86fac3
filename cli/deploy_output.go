package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/provision"
)

func printPlans(w io.Writer, res *provision.Result) {
	for _, h := range res.Hosts {
		if h.Plan == nil || h.Status != provision.StatusPlanned {
			continue
		}
		fmt.Fprintf(w, "== %s: %s (%s)\n", h.Name, h.Summary, h.Plan.BinaryNote)
		for _, why := range h.Plan.Reasons {
			fmt.Fprintf(w, "   because %s\n", why)
		}
		for _, x := range h.Plan.Holders {
			fmt.Fprintf(w, "   stops %s: %s\n", x.Unit, x.Describe())
		}
		for _, c := range h.Plan.Files {
			if c.Diff != "" {
				fmt.Fprintln(w, strings.TrimRight(c.Diff, "\n"))
			}
		}
		printDrainPlan(w, h.DNS)
	}
}

// converged reports whether a host is as the fleet says (or would be, in
// a dry run).
func converged(status string) bool {
	switch status {
	case provision.StatusDeployed, provision.StatusUnchanged, provision.StatusPlanned:
		return true
	}
	return false
}

// outcome is the exit code and the JSON status of a rollout: ok when every
// host converged, failed when none did (or nothing was attempted), partial
// otherwise.
func outcome(res *provision.Result, err error) (int, string) {
	if errors.As(err, new(*provision.PortConflictError)) {
		return ExitUsage, "failed"
	}
	if err != nil || res == nil {
		return ExitProblem, "failed"
	}
	good, bad := 0, 0
	for _, h := range res.Hosts {
		if converged(h.Status) && !leftOut(h) {
			good++
		} else {
			bad++
		}
	}
	switch {
	case bad == 0:
		return ExitOK, "ok"
	case good == 0:
		return ExitProblem, "failed"
	}
	return ExitPartial, "partial"
}

// deployJSON is `deploy --json`.
type deployJSON struct {
	*provision.Result
	Status     string         `json:"status"`
	Error      *jsonErrorBody `json:"error,omitempty"`
	DurationMS int64          `json:"duration_ms"`
	// Next are the commands to run to find out why hosts failed.
	Next []string `json:"next,omitempty"`
}

func (r *rollouter) print(res *provision.Result, took time.Duration, err error) error {
	code, status := outcome(res, err)
	if res == nil {
		res = &provision.Result{}
	}
	for i := range res.Hosts {
		if msg := r.hostError(res.Hosts[i]); msg != "" {
			res.Hosts[i].Error = msg
		}
	}
	summary := r.summary(res, err)
	if r.g.Output == "json" {
		out := deployJSON{Result: res, Status: status, DurationMS: took.Milliseconds(), Next: r.next(res)}
		if code != ExitOK {
			out.Error = &jsonErrorBody{Message: summary, ExitCode: code, Problems: []jsonProblem{}}
		}
		if werr := writeJSON(r.f.IO.Out, out); werr != nil {
			return werr
		}
		if code != ExitOK {
			return silentExit(code)
		}
		return nil
	}
	w := r.f.IO.Out
	if len(res.Hosts) > 0 {
		rows := make([][]string, 0, len(res.Hosts))
		for _, h := range res.Hosts {
			rows = append(rows, []string{h.Name, h.Status, h.Summary, h.Duration.Round(10 * time.Millisecond).String()})
		}
		fitColumn(rows, 2, stdoutWidth(r.f.IO), 4)
		writeTable(w, r.g.color(r.f.IO), []string{"host", "status", "change", "time"}, rows)
		for _, h := range res.Hosts {
			r.details(w, h)
		}
		fmt.Fprintf(w, "%s in %s\n", tally(res), took.Round(10*time.Millisecond))
	}
	if code != ExitOK {
		return &ExitError{Code: code, Err: errors.New(summary)}
	}
	return nil
}

// details prints a host's error, failed checks, unit logs, notes and the
// command to run next, once each.
func (r *rollouter) details(w io.Writer, h provision.HostResult) {
	if h.Error != "" {
		fmt.Fprintf(w, "%s: %s: %s\n", h.Name, h.Status, h.Error)
	}
	if len(h.Failures) > 0 && !strings.Contains(h.Error, h.Failures[0]) {
		fmt.Fprintf(w, "  still failing:\n")
		for _, f := range h.Failures {
			fmt.Fprintf(w, "    - %s\n", f)
		}
	}
	units := make([]string, 0, len(h.Logs))
	for u := range h.Logs {
		units = append(units, u)
	}
	sort.Strings(units)
	for _, u := range units {
		fmt.Fprintf(w, "  last lines of %s (journalctl -u %s -n %d --no-pager):\n", u, u, provision.JournalLines)
		for line := range strings.Lines(h.Logs[u]) {
			fmt.Fprintf(w, "    %s", line)
		}
		fmt.Fprintln(w)
	}
	for _, n := range h.Notes {
		fmt.Fprintf(w, "%s: note: %s\n", h.Name, n)
	}
	if cmd := r.nextFor(h); cmd != "" {
		fmt.Fprintf(w, "  next: %s\n", cmd)
	}
}

// nextFor is the command that explains a host that failed its gate.
func (r *rollouter) nextFor(h provision.HostResult) string {
	if h.Step != provision.StepGate || errors.Is(h.Err, provision.ErrStopped) {
		return ""
	}
	if r.fleetPath == "" {
		return "edgectl diagnose 502"
	}
	return fmt.Sprintf("edgectl diagnose 502 --host %s -f %s", h.Name, r.fleetPath)
}

// takeoverCmd is the command that takes the ports over.
func (r *rollouter) takeoverCmd() string {
	if r.takeover == "" {
		return "edgectl deploy fleet.yaml --takeover"
	}
	return r.takeover
}

func (r *rollouter) next(res *provision.Result) []string {
	var out []string
	for _, h := range res.Hosts {
		var pe *provision.PortConflictError
		if h.Status == provision.StatusConflict && errors.As(h.Err, &pe) && !pe.Takeover && r.takeover != "" {
			out = append(out, r.takeoverCmd())
			break
		}
	}
	for _, h := range res.Hosts {
		if cmd := r.nextFor(h); cmd != "" {
			out = append(out, cmd)
		}
	}
	return out
}

// hostError words a host's error for the command line: flags and commands
// that fix it, the signal that stopped it ("" keeps the domain's text).
func (r *rollouter) hostError(h provision.HostResult) string {
	if h.Err == nil {
		return ""
	}
	r.mu.Lock()
	sig := r.sig
	r.mu.Unlock()
	var he *hostlock.HeldError
	var nb *provision.NoBinaryError
	switch {
	case errors.Is(h.Err, provision.ErrStopped):
		by := "a signal"
		if sig != nil {
			by = signalName(sig)
		}
		switch h.Status {
		case provision.StatusRolledBack:
			return "stopped by " + by + " before the change was complete; rolled back to the previous version"
		case provision.StatusAborted:
			return "stopped by " + by + " before anything was replaced; the host is as it was"
		}
		return "stopped by " + by + " before the change was complete; " + h.Error
	case errors.Is(h.Err, provision.ErrRunTimeout) && r.g.Timeout > 0:
		return fmt.Sprintf("the --timeout of %s ran out before the change was complete; %s", r.g.Timeout, strings.TrimPrefix(h.Error, provision.ErrRunTimeout.Error()))
	case errors.As(h.Err, &he):
		fix := fmt.Sprintf("edgectl lock release %s --hosts %s", r.fleetPathOr("fleet.yaml"), h.Name)
		if r.fleetPath == "" {
			fix = "edgectl install --force-unlock"
		}
		advice := "; to wait for it use --lock-wait"
		if he.Status.Stale {
			advice = ""
		}
		return h.Error + advice + "; if its run is dead: " + fix + " (or --force-unlock)"
	case errors.As(h.Err, &nb):
		return h.Error + "; or pass --binary-dir"
	}
	return ""
}

func (r *rollouter) fleetPathOr(def string) string {
	if r.fleetPath == "" {
		return def
	}
	return r.fleetPath
}

// summary is the one-line error of a rollout that did not fully converge
// (the hosts' own errors are printed with them).
func (r *rollouter) summary(res *provision.Result, err error) string {
	var se *provision.SSHSetupError
	var le *provision.LockedError
	var pe *provision.PortConflictError
	switch {
	case errors.As(err, &se):
		return "nothing was changed on any host: SSH is not set up for every host (see above)"
	case errors.As(err, &le):
		return "nothing was changed on any host: another run holds a lock (see above)"
	case errors.As(err, &pe) && pe.Takeover:
		return "nothing was changed on any host: programs deploy does not stop hold the agent's ports (see above); free the ports or change agent.listen, then deploy again"
	case errors.As(err, &pe) && r.takeover == "":
		return "nothing was changed: another program holds the agent's ports (see above); install does not stop it: stop it first, or take it over from your machine with edgectl deploy --takeover"
	case errors.As(err, &pe):
		return "nothing was changed on any host: other programs hold the agent's ports (see above); to stop them and start the agent in their place run: " + r.takeoverCmd()
	case err != nil:
		return err.Error()
	case res.Interrupted:
		return "the deploy was interrupted; see above for each host"
	}
	code, _ := outcome(res, nil)
	msg := ""
	switch code {
	case ExitProblem:
		msg = "no host converged; see above"
	case ExitPartial:
		msg = "not every host converged; see above"
	}
	if s := r.dnsSummary(res); s != "" && msg != "" {
		msg += "; " + s
	}
	return msg
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

// stdoutWidth is the terminal's width in columns when stdout is a
// terminal, 0 otherwise (then nothing is cut: scripts get whole lines).
func stdoutWidth(ios *IOStreams) int {
	if !ios.IsStdoutTTY() {
		return 0
	}
	return ios.TerminalWidth()
}

// fitColumn cuts column col of rows (with "…") so that the table, its
// columns two spaces apart, fits in width; width 0 leaves rows alone.
func fitColumn(rows [][]string, col, width, ncols int) {
	if width <= 0 || len(rows) == 0 {
		return
	}
	widths := make([]int, ncols)
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	other := 2 * (ncols - 1)
	for i, w := range widths {
		if i != col {
			other += w
		}
	}
	room := max(width-other-1, 10)
	for _, r := range rows {
		if utf8.RuneCountInString(r[col]) > room {
			r[col] = string([]rune(r[col])[:room-1]) + "…"
		}
	}
}
