package provision

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// UnitState is what `systemctl show` says about a unit.
type UnitState struct {
	ActiveState string `json:"active_state"`
	SubState    string `json:"sub_state"`
	// NRestarts counts automatic restarts since the unit was last started
	// by hand (systemctl start/restart resets it).
	NRestarts int `json:"restarts"`
	// ExecMainStatus is the exit status of the main process's last run.
	ExecMainStatus int    `json:"exit_status"`
	Result         string `json:"result"`
}

func parseUnitState(out string) UnitState {
	var u UnitState
	for line := range strings.Lines(out) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "ActiveState":
			u.ActiveState = v
		case "SubState":
			u.SubState = v
		case "NRestarts":
			u.NRestarts, _ = strconv.Atoi(v)
		case "ExecMainStatus":
			u.ExecMainStatus, _ = strconv.Atoi(v)
		case "Result":
			u.Result = v
		}
	}
	return u
}

// Failing says why the unit will not come up by itself ("" when it may):
// it failed its start, or systemd is restarting it in a loop. baseline is
// NRestarts when this run last (re)started the unit or first looked.
func (u UnitState) Failing(baseline int) string {
	exit := ""
	if u.ExecMainStatus != 0 {
		exit = fmt.Sprintf(", its last run exited with status %d", u.ExecMainStatus)
	}
	switch {
	case u.ActiveState == "failed":
		return fmt.Sprintf("failed (%s%s)", u.Result, exit)
	case u.SubState == "auto-restart" && u.NRestarts == 0:
		return fmt.Sprintf("is restart-looping: it stopped right after its start%s, and systemd is restarting it", exit)
	case u.SubState == "auto-restart":
		return fmt.Sprintf("is restart-looping (%d automatic restarts%s)", u.NRestarts, exit)
	case u.NRestarts > baseline:
		return fmt.Sprintf("was restarted %d times by systemd since this deploy started it%s", u.NRestarts-baseline, exit)
	}
	return ""
}

func unitStateCmd(unit string) string {
	return "systemctl show -p ActiveState -p SubState -p NRestarts -p ExecMainStatus -p Result -- " + remote.ShellQuote(unit)
}

// unitState asks systemd about one unit.
func unitState(ctx context.Context, h remote.Host, unit string) (UnitState, error) {
	res, err := h.Run(ctx, unitStateCmd(unit), nil)
	if err != nil {
		return UnitState{}, err
	}
	return parseUnitState(string(res.Stdout)), nil
}

// JournalLines is how many lines of a unit's log a failed gate shows.
const JournalLines = 20

// journalTail returns the unit's last JournalLines log lines ("" when
// journalctl has nothing or fails).
func journalTail(ctx context.Context, h remote.Host, unit string) string {
	res, err := h.Run(ctx, fmt.Sprintf("journalctl -u %s -n %d --no-pager -o short-iso 2>/dev/null", remote.ShellQuote(unit), JournalLines), nil)
	if err != nil && remote.ExitCode(err) < 0 {
		return ""
	}
	return strings.TrimRight(string(res.Stdout), "\n")
}

// BackendHooks run around the backend's restart: the one place where a
// deploy stops the old backend and starts the new one. A hook that fails
// fails the deploy (and the host is rolled back). Holding requests in the
// agent while the backend restarts belongs here.
type BackendHooks struct {
	// Before runs just before the backend unit is restarted.
	Before func(ctx context.Context, h remote.Host, unit string) error
	// After runs once systemd says the unit started (whether or not it
	// then stays up: the gate judges that).
	After func(ctx context.Context, h remote.Host, unit string) error
}

// restartBackend enables and restarts the backend unit between the hooks
// and returns its NRestarts right after, the gate's baseline.
func restartBackend(ctx context.Context, h Host, unit string) (int, error) {
	if f := h.Backend.Before; f != nil {
		if err := f(ctx, h.Host, unit); err != nil {
			return 0, fmt.Errorf("before the backend restart: %w", err)
		}
	}
	q := remote.ShellQuote(unit)
	if _, err := h.Run(ctx, "systemctl enable --quiet -- "+q+" && systemctl restart -- "+q, nil); err != nil {
		return 0, fmt.Errorf("restart the backend %s: %w", unit, err)
	}
	st, err := unitState(ctx, h, unit)
	if err != nil {
		return 0, err
	}
	if f := h.Backend.After; f != nil {
		if err := f(ctx, h.Host, unit); err != nil {
			return st.NRestarts, fmt.Errorf("after the backend restart: %w", err)
		}
	}
	return st.NRestarts, nil
}
