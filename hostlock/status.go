package hostlock

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// Status is what a lock file says.
type Status struct {
	// Host is the host's name, Path the lock file.
	Host string `json:"host"`
	Path string `json:"path"`
	// Held is false when there is no lock.
	Held   bool   `json:"held"`
	Holder Holder `json:"holder"`
	// Origin is the address the host saw the holder's connection come
	// from ("" for a run on the host itself).
	Origin string `json:"origin,omitempty"`
	// Since is when it was taken (the host's clock); Age how long ago.
	Since time.Time     `json:"since"`
	Age   time.Duration `json:"-"`
	AgeMS int64         `json:"age_ms"`
	// Stale is true when Age is beyond the holder's maximum time.
	Stale bool `json:"stale"`
	// Gone is true when the holder ran on this machine and its process
	// no longer runs.
	Gone bool `json:"gone"`
	// Unreadable is set when the file is not a lock edgectl wrote.
	Unreadable string `json:"unreadable,omitempty"`
}

// HeldError is returned by Acquire when another run holds the lock.
type HeldError struct {
	Status Status
}

// readScript prints the host's time, the lock's mtime (or "missing") and
// the lock file.
func readScript(p string) string {
	q := remote.ShellQuote(p)
	return "date +%s\nstat -c %Y -- " + q + " 2>/dev/null || echo missing\ncat -- " + q + " 2>/dev/null || true\n"
}

// Read returns what the lock file at p on h says.
func Read(ctx context.Context, h remote.Host, p string) (Status, error) {
	res, err := h.Run(ctx, readScript(p), nil)
	if err != nil {
		return Status{}, fmt.Errorf("read the lock %s: %w", p, err)
	}
	return parseStatus(h.Name(), p, res.Stdout)
}

func parseStatus(host, p string, out []byte) (Status, error) {
	st := Status{Host: host, Path: p}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 {
		return st, fmt.Errorf("read the lock %s on %s: unexpected answer %q", p, host, out)
	}
	now, err1 := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	if strings.TrimSpace(lines[1]) == "missing" {
		return st, nil
	}
	mtime, err2 := strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("read the lock %s on %s: unexpected answer %q", p, host, out)
	}
	st.Held = true
	st.Since = time.Unix(mtime, 0)
	st.Age = time.Duration(max(now-mtime, 0)) * time.Second
	st.AgeMS = st.Age.Milliseconds()
	body := lines[2:]
	if len(body) == 0 || json.Unmarshal([]byte(body[0]), &st.Holder) != nil || st.Holder.Token == "" {
		st.Unreadable = "not edgectl's JSON"
		if len(body) == 0 {
			st.Unreadable = "empty"
		}
		return st, nil
	}
	for _, l := range body[1:] {
		if rest, ok := strings.CutPrefix(l, "origin "); ok {
			if f := strings.Fields(rest); len(f) > 0 && f[0] != "$SSH_CLIENT" {
				st.Origin = f[0]
			}
		}
	}
	st.Stale = st.Holder.MaxMS > 0 && st.Age > st.Holder.Max()
	st.Gone = st.Holder.MachineID != "" && st.Holder.MachineID == machineID() && !alive(st.Holder.PID, st.Holder.PIDStart)
	return st, nil
}
