package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
)

// maxLiveHosts is the most hosts shown as a live block; more would scroll
// the terminal and break the redraw, so bigger fleets get plain lines.
const maxLiveHosts = 30

// progress returns the Event sink for deploy and install: on a terminal a
// live block with one line per host, rewritten in place as hosts move;
// otherwise (logs, CI, cron) one plain "host: message" line per event.
func progress(ios *IOStreams, g *GlobalOptions, hosts []string) func(provision.Event) {
	var mu sync.Mutex
	w := ios.ErrOut
	if !ios.IsStderrTTY() || len(hosts) > maxLiveHosts || len(hosts) == 0 {
		return func(e provision.Event) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(w, "%s: %s\n", e.Host, e.Msg)
		}
	}
	color := !g.NoColor
	cols := ios.TerminalWidth()
	width := 0
	for _, h := range hosts {
		width = max(width, len(h))
	}
	last := make(map[string]string, len(hosts))
	drawn := false
	return func(e provision.Event) {
		mu.Lock()
		defer mu.Unlock()
		last[e.Host] = e.Msg
		var b strings.Builder
		if drawn {
			fmt.Fprintf(&b, "\x1b[%dA", len(hosts)) // back to the block's first line
		}
		for _, h := range hosts {
			name := fmt.Sprintf("%-*s", width, h)
			msg := last[h]
			if msg == "" {
				msg = "waiting"
			}
			// A wrapped line would break the redraw: cut to the terminal.
			if room := cols - width - 3; utf8.RuneCountInString(msg) > room {
				msg = string([]rune(msg)[:max(room-1, 0)]) + "…"
			}
			if color {
				name = "\x1b[1m" + name + "\x1b[0m"
				switch {
				case strings.HasPrefix(msg, "deployed"):
					msg = "\x1b[32m" + msg + "\x1b[0m"
				case strings.Contains(msg, "FAILED") || strings.HasPrefix(msg, "failed") || strings.HasPrefix(msg, "unreachable") ||
					strings.HasPrefix(msg, "host-key") || strings.HasPrefix(msg, "login-failed"):
					msg = "\x1b[31m" + msg + "\x1b[0m"
				case strings.HasPrefix(msg, "waiting for the lock"):
					msg = "\x1b[33m" + msg + "\x1b[0m"
				}
			}
			fmt.Fprintf(&b, "\x1b[2K%s  %s\n", name, msg)
		}
		drawn = true
		io.WriteString(w, b.String())
	}
}

func hostNames(hosts []fleet.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out
}
