package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// logPattern is one nginx upstream error, how to spot it and what it
// means.
type logPattern struct {
	Key   string // stable short name
	Match string // substring of the log line
	Cause string // cause id when this is the top pattern
	What  string // for summaries
}

// logPatterns are the nginx upstream errors counted, in report order.
var logPatterns = []logPattern{
	{"refused", "connect() failed (111", CauseUpstreamRefused, "connection refused by the upstream"},
	{"unreachable", "failed (99: Cannot assign requested address)", CauseUpstreamRefused, "upstream address not available on this host"},
	{"timeout", "upstream timed out (110", CauseBackendTimeout, "upstream timed out"},
	{"no-live", "no live upstreams", CauseNoLiveUpstreams, "no live upstreams"},
	{"closed", "upstream prematurely closed connection", CauseUpstreamClosed, "upstream closed the connection before the response"},
	{"too-big-header", "upstream sent too big header", CauseHeaderTooBig, "upstream response header larger than proxy_buffer_size"},
}

// logCount is how often one pattern was seen.
type logCount struct {
	Pattern  logPattern
	Count    int
	Last     string // timestamp of the last occurrence
	Upstream string // upstream of the last occurrence
}

// logSummary is what the error log holds within the window.
type logSummary struct {
	Files  []string
	Counts []logCount // by count, descending; only patterns seen
	Lines  int        // lines within the window
	Err    error
}

var (
	logTimeRE     = regexp.MustCompile(`^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) `)
	logUpstreamRE = regexp.MustCompile(`upstream: "([^"]*)"`)
)

const nginxTimeLayout = "2006/01/02 15:04:05"

// readErrorLogs reads the tails of the error logs, with the host's clock
// so the window is measured in the host's time zone.
func readErrorLogs(ctx context.Context, h remote.Host, files []string, lines int, window time.Duration) *logSummary {
	sum := &logSummary{Files: files}
	var b strings.Builder
	b.WriteString("date '+%Y/%m/%d %H:%M:%S'")
	for _, f := range files {
		fmt.Fprintf(&b, "; echo '@@file'; tail -n %d -- %s", lines, remote.ShellQuote(f))
	}
	res, err := h.Run(ctx, b.String(), nil)
	if err != nil && len(res.Stdout) == 0 {
		sum.Err = err
		return sum
	}
	if err != nil {
		sum.Err = err // one file unreadable; the others still count
	}
	out := string(res.Stdout)
	nowLine, rest, _ := strings.Cut(out, "\n")
	now, perr := time.Parse(nginxTimeLayout, strings.TrimSpace(nowLine))
	var since time.Time
	if perr == nil && window > 0 {
		since = now.Add(-window)
	}
	summarizeLog(sum, rest, since)
	return sum
}

// summarizeLog counts the patterns in log lines at or after since (zero:
// every line).
func summarizeLog(sum *logSummary, text string, since time.Time) {
	counts := map[string]*logCount{}
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "@@file") {
			continue
		}
		if m := logTimeRE.FindStringSubmatch(line); m != nil && !since.IsZero() {
			t, err := time.Parse(nginxTimeLayout, m[1])
			if err == nil && t.Before(since) {
				continue
			}
		}
		sum.Lines++
		for _, p := range logPatterns {
			if !strings.Contains(line, p.Match) {
				continue
			}
			c := counts[p.Key]
			if c == nil {
				c = &logCount{Pattern: p}
				counts[p.Key] = c
			}
			c.Count++
			if m := logTimeRE.FindStringSubmatch(line); m != nil {
				c.Last = m[1]
			}
			if m := logUpstreamRE.FindStringSubmatch(line); m != nil {
				c.Upstream = m[1]
			}
			break
		}
	}
	for _, p := range logPatterns {
		if c := counts[p.Key]; c != nil {
			sum.Counts = append(sum.Counts, *c)
		}
	}
	slices.SortStableFunc(sum.Counts, func(a, b logCount) int { return b.Count - a.Count })
}

// evidence lists the counts: "connect() failed (111: 12, last 2024/… upstream http://[::1]:8000/".
func (s *logSummary) evidence() string {
	var parts []string
	for _, c := range s.Counts {
		e := fmt.Sprintf("%q ×%d", c.Pattern.Match, c.Count)
		if c.Last != "" {
			e += " (last " + c.Last
			if c.Upstream != "" {
				e += ", upstream " + c.Upstream
			}
			e += ")"
		}
		parts = append(parts, e)
	}
	return strings.Join(parts, "; ")
}

// errorLogCheck summarises the proxy's error log by cause and count.
func (j *judgement) errorLogCheck() {
	f := j.f
	switch {
	case f.proxy.Kind == "agent":
		j.add(Check{ID: "errorlog", Status: StatusSkip, Summary: "the agent logs upstream errors to its access log (journalctl -u edgectl-agent)"})
		return
	case f.log == nil && f.proxy.Kind == "":
		j.add(Check{ID: "errorlog", Status: StatusSkip, Summary: "no proxy named: no error log read"})
		return
	case f.log == nil:
		j.add(Check{ID: "errorlog", Status: StatusSkip, Summary: "nginx's configuration names no error log file", Hint: HintErrorLog})
		return
	}
	s := f.log
	c := Check{ID: "errorlog"}
	switch {
	case s.Err != nil && s.Lines == 0:
		c.Status, c.Summary, c.Evidence = StatusSkip, "cannot read "+strings.Join(s.Files, ", "), s.Err.Error()
	case len(s.Counts) == 0:
		c.Status = StatusOK
		c.Summary = fmt.Sprintf("no upstream errors in the last %d lines within %s", s.Lines, f.o.LogWindow)
		c.Evidence = strings.Join(s.Files, ", ")
	default:
		top := s.Counts[0]
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("%d× %s (%q)", top.Count, top.Pattern.What, top.Pattern.Match)
		if len(s.Counts) > 1 {
			c.Summary += fmt.Sprintf(" and %d other kinds", len(s.Counts)-1)
		}
		c.Evidence = strings.Join(s.Files, ", ") + ": " + s.evidence()
		c.Fix = logFix(top.Pattern.Key)
	}
	j.add(c)
}

// logFix is the generic fix for an error-log pattern.
func logFix(key string) string {
	switch key {
	case "refused", "unreachable":
		return "the upstream address refuses connections: see listen.* and probe.*"
	case "timeout":
		return "the backend is slower than proxy_read_timeout: fix the slow endpoint, or raise proxy_read_timeout for it"
	case "no-live":
		return "every server of the upstream was marked down (max_fails): fix the failing server, see the other checks"
	case "closed":
		return "the backend closed connections without answering: check its logs for crashes and its keepalive timeout (see keepalive)"
	case "too-big-header":
		return "raise proxy_buffer_size (e.g. `proxy_buffer_size 32k; proxy_buffers 8 32k;`) or send smaller headers (cookies)"
	}
	return ""
}
