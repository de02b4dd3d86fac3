package diagnose

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// unitState is what `systemctl show` says about one unit.
type unitState struct {
	ID             string
	LoadState      string
	ActiveState    string
	SubState       string
	NRestarts      int
	ExecMainStatus int
	ExecStart      string // the program path from ExecStart
	// Explicit is true for units named with --unit.
	Explicit bool
}

const unitProps = "Id,LoadState,ActiveState,SubState,NRestarts,ExecMainStatus,ExecStart"

// systemdCmd prints "no-systemd" unless systemd is PID 1 and systemctl
// exists, then the properties of every unit.
func systemdCmd(units []string) string {
	var q []string
	for _, u := range units {
		q = append(q, remote.ShellQuote(u))
	}
	return `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemctl show -p ` + unitProps +
		` -- ` + strings.Join(q, " ") + `; else echo no-systemd; fi`
}

// parseSystemctlShow reads `systemctl show -p …` output for several units:
// KEY=VALUE lines, units separated by blank lines.
func parseSystemctlShow(out string) []unitState {
	var units []unitState
	var cur *unitState
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			cur = nil
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if cur == nil {
			units = append(units, unitState{})
			cur = &units[len(units)-1]
		}
		switch k {
		case "Id":
			cur.ID = v
		case "LoadState":
			cur.LoadState = v
		case "ActiveState":
			cur.ActiveState = v
		case "SubState":
			cur.SubState = v
		case "NRestarts":
			cur.NRestarts, _ = strconv.Atoi(v)
		case "ExecMainStatus":
			cur.ExecMainStatus, _ = strconv.Atoi(v)
		case "ExecStart":
			// "{ path=/usr/bin/x ; argv[]=/usr/bin/x -a ; … }"
			if i := strings.Index(v, "path="); i >= 0 {
				p := v[i+len("path="):]
				if j := strings.IndexAny(p, " ;"); j >= 0 {
					p = p[:j]
				}
				cur.ExecStart = p
			}
		}
	}
	return units
}

// noUnits is the systemd check's skip reason when there is no unit to ask
// about.
const noUnits = "no systemd unit to check: none owns a backend port, and none was named"

// readUnits queries systemd for units; ok is false (with the reason) when
// systemd is not running the host.
func readUnits(ctx context.Context, h remote.Host, names []string) ([]unitState, string) {
	if len(names) == 0 {
		return nil, noUnits
	}
	res, err := h.Run(ctx, systemdCmd(names), nil)
	if strings.TrimSpace(string(res.Stdout)) == "no-systemd" {
		return nil, "systemd is not PID 1 on " + h.Name()
	}
	if err != nil && len(res.Stdout) == 0 {
		return nil, "systemctl show failed: " + err.Error()
	}
	return parseSystemctlShow(string(res.Stdout)), ""
}

// systemdChecks report each unit's state and restart count.
func (j *judgement) systemdChecks() {
	f := j.f
	if f.unitsSkip != "" {
		c := Check{ID: "systemd", Status: StatusSkip, Summary: f.unitsSkip}
		if f.unitsSkip == noUnits {
			c.Hint = HintUnit
		}
		j.add(c)
		return
	}
	for _, u := range f.units {
		c := Check{ID: "systemd." + u.ID, Evidence: fmt.Sprintf("LoadState=%s ActiveState=%s SubState=%s NRestarts=%d ExecMainStatus=%d", u.LoadState, u.ActiveState, u.SubState, u.NRestarts, u.ExecMainStatus)}
		switch {
		case u.LoadState == "not-found":
			c.Status, c.Summary = StatusWarn, "unit "+u.ID+" does not exist"
			c.Fix = "check the unit name: systemctl list-units --type=service"
		case u.ActiveState != "active":
			c.Status, c.Summary = StatusFail, fmt.Sprintf("%s is %s (%s), last exit status %d", u.ID, u.ActiveState, u.SubState, u.ExecMainStatus)
			c.Fix = "journalctl -u " + u.ID + " -n 50; then systemctl restart " + u.ID
		case u.NRestarts > 0:
			c.Status, c.Summary = StatusWarn, fmt.Sprintf("%s is running but systemd restarted it %d times", u.ID, u.NRestarts)
			c.Fix = "journalctl -u " + u.ID + " to see why it exits"
		default:
			c.Status, c.Summary = StatusOK, fmt.Sprintf("%s is %s (%s)", u.ID, u.ActiveState, u.SubState)
		}
		j.add(c)
	}
}
