package certs

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// certHome is a directory whose subdirectories may hold certificates.
type certHome struct {
	source string
	dir    string
}

// homes lists where to look on a host whose login user has home: certbot's
// live directory, root's acme.sh home, and the login user's.
func homes(home string) []certHome {
	out := []certHome{{SourceCertbot, "/etc/letsencrypt/live"}, {SourceAcmeSh, "/root/.acme.sh"}}
	if home != "" && path.IsAbs(home) && path.Clean(home) != "/root" && path.Clean(home) != "/" {
		out = append(out, certHome{SourceAcmeSh, path.Join(path.Clean(home), ".acme.sh")})
	}
	return out
}

// scan finds the certificate directories of acme.sh and certbot on h and
// reads their chain and key.
func scan(ctx context.Context, h remote.Host) ([]Found, error) {
	res, err := h.Run(ctx, `printf '%s\n' "$HOME"`, nil)
	if err != nil {
		return nil, fmt.Errorf("find the login user's home: %w", err)
	}
	hs := homes(strings.TrimSpace(string(res.Stdout)))
	var cmd strings.Builder
	for i, c := range hs {
		// Each section lists one directory's entries; markers carry no
		// path, so nothing in the output depends on where paths point.
		fmt.Fprintf(&cmd, "echo @@%d; (cd %s && ls -1A) 2>/dev/null; ", i, remote.ShellQuote(c.dir))
	}
	res, err = h.Run(ctx, cmd.String()+"true", nil)
	if err != nil {
		return nil, fmt.Errorf("list the certificate directories: %w", err)
	}
	var found []Found
	for i, entries := range sections(string(res.Stdout), len(hs)) {
		c := hs[i]
		for _, e := range entries {
			f, ok := candidate(c, e)
			if !ok {
				continue
			}
			readPair(ctx, h, &f)
			if f.chain == nil && strings.HasSuffix(f.Problem, "no such file") {
				continue // not a certificate directory
			}
			found = append(found, f)
		}
	}
	return found, nil
}

// candidate is the chain and key an entry of a home would hold.
func candidate(c certHome, entry string) (Found, bool) {
	dir := path.Join(c.dir, entry)
	switch c.source {
	case SourceCertbot:
		if entry == "README" || strings.HasPrefix(entry, ".") {
			return Found{}, false
		}
		return Found{Source: c.source, Dir: dir, Chain: path.Join(dir, "fullchain.pem"), Key: path.Join(dir, "privkey.pem")}, true
	default:
		name := strings.TrimSuffix(entry, "_ecc")
		if !strings.Contains(name, ".") || strings.ContainsAny(name, "/ ") || strings.HasPrefix(name, ".") {
			return Found{}, false // account.conf, ca/, deploy/, dnsapi/, …
		}
		return Found{Source: c.source, Dir: dir, Chain: path.Join(dir, "fullchain.cer"), Key: path.Join(dir, name+".key")}, true
	}
}

// sections splits output of "echo @@0; …; echo @@1; …" into n line lists.
func sections(out string, n int) [][]string {
	secs := make([][]string, n)
	cur := -1
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if rest, ok := strings.CutPrefix(l, "@@"); ok {
			if i, err := strconv.Atoi(rest); err == nil && i >= 0 && i < n {
				cur = i
				continue
			}
		}
		if cur >= 0 && l != "" {
			secs[cur] = append(secs[cur], l)
		}
	}
	return secs
}

// Renewal is a cron entry or a systemd timer that renews certificates with
// acme.sh or certbot on a host.
type Renewal struct {
	Tool string `json:"tool"`
	// Where is the crontab or unit: "crontab of root", "/etc/cron.d/certbot",
	// "certbot.timer".
	Where string `json:"where"`
	Line  string `json:"line"`
	// Note adds what matters about it, such as a certbot cron entry that
	// runs only on hosts without systemd.
	Note string `json:"note,omitempty"`
}

// renewalScript prints every crontab and the enabled timers, in sections.
var renewalScript = strings.Join([]string{
	"for f in /var/spool/cron/crontabs/* /var/spool/cron/*; do [ -f \"$f\" ] && { echo \"@@crontab ${f##*/}\"; cat \"$f\"; }; done",
	// root reads every user's crontab above; anyone else only their own
	"[ \"$(id -u)\" = 0 ] || { echo '@@crontab of the login user'; crontab -l; }",
	"[ -f /etc/crontab ] && { echo '@@file crontab'; cat /etc/crontab; }",
	"for f in /etc/cron.d/*; do [ -f \"$f\" ] && { echo \"@@cron.d ${f##*/}\"; cat \"$f\"; }; done",
	"for f in /etc/systemd/system/timers.target.wants/*; do [ -L \"$f\" ] || [ -e \"$f\" ] && echo \"@@timer ${f##*/}\"; done",
	"true",
}, "\n") + "\n"

// renewals lists the cron entries and enabled timers of h that renew
// with acme.sh or certbot.
func renewals(ctx context.Context, h remote.Host) ([]Renewal, error) {
	res, err := h.Run(ctx, "exec 2>/dev/null\n"+renewalScript, nil)
	if err != nil && remote.ExitCode(err) < 0 {
		return []Renewal{}, err
	}
	return parseRenewals(string(res.Stdout)), nil
}

// parseRenewals reads renewalScript's output.
func parseRenewals(out string) []Renewal {
	rs := []Renewal{}
	where := ""
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "@@"); ok {
			kind, name, _ := strings.Cut(rest, " ")
			switch kind {
			case "crontab":
				where = "crontab of " + strings.TrimPrefix(name, "of ")
			case "file":
				where = "/etc/crontab"
			case "cron.d":
				where = "/etc/cron.d/" + name
			case "timer":
				if tool := renewTool(name); tool != "" {
					rs = append(rs, Renewal{Tool: tool, Where: name, Line: "enabled (timers.target.wants)"})
				}
				where = ""
			}
			continue
		}
		if where == "" || l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		tool := renewTool(l)
		if tool == "" || seen[tool+" "+l] {
			continue
		}
		seen[tool+" "+l] = true
		r := Renewal{Tool: tool, Where: where, Line: l}
		if tool == SourceCertbot && strings.Contains(l, "/run/systemd/system") {
			r.Note = "runs only where systemd is not PID 1 (certbot.timer renews otherwise)"
		}
		rs = append(rs, r)
	}
	return rs
}

// renewTool names the tool a crontab line or timer renews with, or "".
func renewTool(s string) string {
	l := strings.ToLower(s)
	switch {
	case strings.Contains(l, "acme.sh") && (strings.Contains(l, "--cron") || strings.Contains(l, "--renew") || strings.HasSuffix(l, ".timer")):
		return SourceAcmeSh
	case strings.Contains(l, "certbot") && (strings.Contains(l, "renew") || strings.HasSuffix(l, ".timer")):
		return SourceCertbot
	}
	return ""
}
