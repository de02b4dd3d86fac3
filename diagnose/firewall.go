package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// firewallCmd prints the nftables ruleset and the iptables rules of both
// families, each section introduced by an @@ line. It needs root; without
// it every section is empty.
const firewallCmd = `echo '@@nft'; nft list ruleset 2>/dev/null && echo '@@read'; echo '@@ip6tables'; ip6tables-save 2>/dev/null && echo '@@read'; echo '@@iptables'; iptables-save 2>/dev/null && echo '@@read'; true`

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
	var fw firewall
	section, table := "", ""
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "@@read" {
			fw.Read = true
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
			c.Status, c.Summary = StatusSkip, "cannot read firewall rules: nft list ruleset and iptables-save failed or are missing (they need root and CAP_NET_ADMIN)"
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
