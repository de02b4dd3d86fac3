package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// firewallCmd prints the user it runs as, then the nftables ruleset and the
// iptables rules of both families, each section introduced by an @@ line
// and ended by @@read (printed), @@failed (the tool is there but refused:
// it needs root and CAP_NET_ADMIN) or @@missing (not installed).
const firewallCmd = `PATH="$PATH:/usr/sbin:/sbin"; echo "@@uid $(id -u 2>/dev/null)"; ` +
	`for t in nft:'nft list ruleset' ip6tables:ip6tables-save iptables:iptables-save; do ` +
	`echo "@@${t%%:*}"; c=${t#*:}; if command -v ${c%% *} >/dev/null 2>&1; then ` +
	`if $c 2>/dev/null; then echo '@@read'; else echo '@@failed'; fi; else echo '@@missing'; fi; done; true`

// fwRule is one rule dropping or rejecting traffic to a port.
type fwRule struct {
	Family string // ipv4 or ipv6
	Source string // nft, iptables or ip6tables
	Text   string
}

// firewall is the set of dropping rules found.
type firewall struct {
	Rules []fwRule
	// Read is false when no ruleset could be read at all.
	Read bool
	// Missing and Failed name the tools not installed, and installed but
	// refusing (not root, no CAP_NET_ADMIN).
	Missing, Failed []string
	// UID is the user the command ran as, -1 when unknown.
	UID int
}

var (
	nftTableRE  = regexp.MustCompile(`^table\s+(\w+)\s+\S+\s*\{`)
	nftDportRE  = regexp.MustCompile(`\b(?:tcp|th)\s+dport\s+(\{[^}]*\}|\S+)`)
	iptDportRE  = regexp.MustCompile(`--dports?\s+(\S+)`)
	iptVerdicRE = regexp.MustCompile(`-j\s+(DROP|REJECT)\b`)
)

// parseFirewall reads firewallCmd output and keeps the rules that drop or
// reject TCP to port.
func parseFirewall(out string, port uint16) firewall {
	fw := firewall{UID: -1}
	section, table := "", ""
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case line == "@@read":
			fw.Read = true
			continue
		case line == "@@missing":
			fw.Missing = append(fw.Missing, section)
			continue
		case line == "@@failed":
			fw.Failed = append(fw.Failed, section)
			continue
		case strings.HasPrefix(line, "@@uid "):
			if n, err := strconv.Atoi(strings.TrimPrefix(line, "@@uid ")); err == nil {
				fw.UID = n
			}
			continue
		}
		if strings.HasPrefix(line, "@@") {
			section = strings.TrimPrefix(line, "@@")
			continue
		}
		if line == "" {
			continue
		}
		switch section {
		case "nft":
			if m := nftTableRE.FindStringSubmatch(line); m != nil {
				table = m[1]
				continue
			}
			if !strings.Contains(line, " drop") && !strings.Contains(line, " reject") && !strings.HasSuffix(line, "drop") {
				continue
			}
			m := nftDportRE.FindStringSubmatch(line)
			if m == nil || !portIn(m[1], port) {
				continue
			}
			for _, f := range nftFamilies(table, line) {
				fw.Rules = append(fw.Rules, fwRule{Family: f, Source: "nft", Text: "table " + table + ": " + line})
			}
		case "ip6tables", "iptables":
			if !strings.HasPrefix(line, "-A ") || !iptVerdicRE.MatchString(line) || !strings.Contains(line, "tcp") {
				continue
			}
			m := iptDportRE.FindStringSubmatch(line)
			if m == nil || !portIn(m[1], port) {
				continue
			}
			f := "ipv4"
			if section == "ip6tables" {
				f = "ipv6"
			}
			fw.Rules = append(fw.Rules, fwRule{Family: f, Source: section, Text: line})
		}
	}
	return fw
}

// nftFamilies says which families an nft rule applies to.
func nftFamilies(table, rule string) []string {
	switch table {
	case "ip":
		return []string{"ipv4"}
	case "ip6":
		return []string{"ipv6"}
	case "inet", "bridge", "netdev":
		switch {
		case strings.Contains(rule, "ip6 ") || strings.Contains(rule, "nfproto ipv6"):
			return []string{"ipv6"}
		case strings.Contains(rule, "ip ") || strings.Contains(rule, "nfproto ipv4"):
			return []string{"ipv4"}
		}
		return []string{"ipv4", "ipv6"}
	}
	return nil
}

// portIn reports whether port is in an nft/iptables port expression:
// "8000", "{ 80, 8000 }", "8000-8010", "80,8000", "8000:8010".
func portIn(expr string, port uint16) bool {
	expr = strings.Trim(expr, "{} ")
	for _, part := range strings.FieldsFunc(expr, func(r rune) bool { return r == ',' || r == ' ' }) {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			lo, hi, isRange = strings.Cut(part, ":")
		}
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		if int(port) >= a && int(port) <= b {
			return true
		}
	}
	return false
}

// drops returns the rules for family.
func (fw firewall) drops(family string) []fwRule {
	var out []fwRule
	for _, r := range fw.Rules {
		if r.Family == family {
			out = append(out, r)
		}
	}
	return out
}

// unread says why no ruleset could be read, true to what happened: no
// tools on the host, or tools that refused.
func (fw firewall) unread() string {
	tools := map[string]string{"nft": "nft", "ip6tables": "ip6tables-save", "iptables": "iptables-save"}
	names := func(sections []string) string {
		var out []string
		for _, s := range sections {
			out = append(out, tools[s])
		}
		return strings.Join(out, ", ")
	}
	also := ""
	if len(fw.Missing) > 0 {
		also = "; " + names(fw.Missing) + " not installed"
	}
	switch {
	case len(fw.Failed) == 0 && len(fw.Missing) > 0:
		return "no firewall tools on the host (" + names(fw.Missing) + " not installed): rules not read"
	case len(fw.Failed) > 0 && fw.UID > 0:
		return fmt.Sprintf("cannot read firewall rules as uid %d: %s need root%s", fw.UID, names(fw.Failed), also)
	case len(fw.Failed) > 0:
		return "cannot read firewall rules: " + names(fw.Failed) + " failed (no CAP_NET_ADMIN, or a container without netfilter access?)" + also
	}
	return "cannot read firewall rules: the command printed nothing"
}

// readFirewall reads the rulesets from the host.
func readFirewall(ctx context.Context, h remote.Host) (string, error) {
	res, err := h.Run(ctx, firewallCmd, nil)
	return string(res.Stdout), err
}

// firewallChecks look for rules dropping the backend port per family.
func (j *judgement) firewallChecks(port uint16, multi bool) {
	f := j.f
	fw := parseFirewall(f.fwText, port)
	for _, fam := range []string{"ipv6", "ipv4"} {
		c := Check{ID: id("firewall."+fam, port, multi)}
		rules := fw.drops(fam)
		switch {
		case !fw.Read:
			c.Status, c.Summary = StatusSkip, fw.unread()
			if len(fw.Failed) > 0 && fw.UID != 0 {
				c.Hint = HintRoot
			}
		case len(rules) > 0:
			var ev []string
			for _, r := range rules {
				ev = append(ev, r.Source+": "+r.Text)
			}
			c.Status = StatusFail
			c.Summary = fmt.Sprintf("a %s rule drops TCP port %d", famName(fam), port)
			c.Evidence = strings.Join(ev, "; ")
			c.Fix = "delete the rule, or add an accept for port " + portString(port) + " on lo before it"
		default:
			c.Status, c.Summary = StatusOK, fmt.Sprintf("no %s rule drops TCP port %d", famName(fam), port)
		}
		j.add(c)
	}
}
