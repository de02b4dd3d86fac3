package fleet

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Issue is a semantic problem at a dotted path in the document, such as
// "hosts[1].ipv6".
type Issue struct {
	Path string
	// Key is true when the problem is the key itself (point at the key).
	Key bool
	Msg string
}

// Validate checks a defaulted fleet, agent section included, and returns
// every problem found. Parse runs it; callers that change a parsed Fleet
// can run it again. The agent section is checked as agentconfig checks a
// defaulted agent.yaml.
func (f *Fleet) Validate() []Issue {
	is := f.validate()
	for _, a := range f.Agent.Validate() {
		is = append(is, Issue{Path: "agent." + a.Path, Key: a.Key, Msg: a.Msg})
	}
	return is
}

// issues collects problems; add formats one.
type issues []Issue

func (is *issues) add(path, format string, a ...any) {
	*is = append(*is, Issue{Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (is *issues) addKey(path, format string, a ...any) {
	*is = append(*is, Issue{Path: path, Key: true, Msg: fmt.Sprintf(format, a...)})
}

// validate checks everything but the agent section, which agentconfig
// checks.
func (f *Fleet) validate() []Issue {
	var is issues
	f.validateSSH(&is)
	f.validateHosts(&is)
	f.validateDomains(&is)
	if f.Resolver != "" {
		if err := checkHostPort(f.Resolver, true); err != nil {
			is.add("resolver", "resolver: %v (e.g. \"1.1.1.1:53\" or \"[2606:4700:4700::1111]:53\"; \"\" for the system resolver)", err)
		}
	}
	f.validateACME(&is)
	f.validateBackend(&is)
	f.validateEndpoints(&is)
	if f.Rollout.Batch < 1 {
		is.add("rollout.batch", "batch must be at least 1 (hosts upgraded at a time), not %d", f.Rollout.Batch)
	}
	positive(&is, "rollout.health_timeout", f.Rollout.HealthTimeout)
	if f.Rollout.Drain < 0 {
		is.add("rollout.drain", "drain must not be negative; 0s restarts without draining")
	}
	f.validateSweep(&is)
	f.validateDNS(&is)
	f.validateAlerts(&is)
	return is
}

func positive(is *issues, path string, d time.Duration) {
	if d <= 0 {
		name := path[strings.LastIndexByte(path, '.')+1:]
		is.add(path, "%s must be positive, e.g. 5s, not %s", name, d)
	}
}

func (f *Fleet) validateSSH(is *issues) {
	s := f.SSH
	if strings.ContainsAny(s.User, "@: \t\r\n/") || !printable(s.User) {
		is.add("ssh.user", "user %q is not a login name (no spaces, '@', ':' or '/')", s.User)
	}
	if s.Port < 1 || s.Port > 65535 {
		is.add("ssh.port", "port must be 1-65535, not %d", s.Port)
	}
	if s.Jump != "" {
		if err := checkJump(s.Jump); err != nil {
			is.add("ssh.jump", "jump: %v", err)
		}
	}
}

func (f *Fleet) validateDomains(is *issues) {
	seen := map[string]int{}
	for i, d := range f.Domains {
		p := fmt.Sprintf("domains[%d]", i)
		if err := checkDomain(d, true); err != nil {
			is.add(p, "%v", err)
			continue
		}
		key := strings.ToLower(d)
		if j, dup := seen[key]; dup {
			is.add(p, "%s is already listed at domains[%d]; remove one", d, j)
			continue
		}
		seen[key] = i
		if strings.HasPrefix(d, "*.") && f.ACME.Challenge != ChallengeDNS01 {
			is.add(p, "%s: wildcard certificates need acme.challenge: dns-01 (with dns_provider); http-01 cannot prove a wildcard", d)
		}
	}
}

func (f *Fleet) validateACME(is *issues) {
	a := f.ACME
	if a.Email != "" {
		at := strings.LastIndexByte(a.Email, '@')
		if at < 1 || at == len(a.Email)-1 || strings.ContainsAny(a.Email, " \t\r\n<>,") {
			is.add("acme.email", "email %q is not an address like ops@example.com", a.Email)
		}
	}
	if err := checkURL(a.Directory, "https"); err != nil {
		is.add("acme.directory", "directory %q: %v; give the CA's ACME directory URL (default %s)", a.Directory, err, DefaultACMEDirectory)
	}
	switch a.Challenge {
	case ChallengeHTTP01:
		if a.DNSProvider != "" {
			is.add("acme.dns_provider", "dns_provider is only used with challenge: dns-01; set the challenge or remove the provider")
		}
	case ChallengeDNS01:
		if a.DNSProvider == "" {
			is.addKey("acme.challenge", "challenge dns-01 needs dns_provider (a lego provider name such as cloudflare or route53)")
		} else if !isWord(a.DNSProvider, false) {
			is.add("acme.dns_provider", "dns_provider %q is not a lego provider name (lowercase, e.g. cloudflare)", a.DNSProvider)
		}
	default:
		is.add("acme.challenge", "challenge must be http-01 or dns-01, not %q", a.Challenge)
	}
}

func (f *Fleet) validateEndpoints(is *issues) {
	for i, d := range f.Endpoints.Domains {
		if err := checkDomain(d, false); err != nil {
			is.add(fmt.Sprintf("endpoints.domains[%d]", i), "%v", err)
		}
	}
	for i, s := range f.Endpoints.IPs {
		if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			is.add(fmt.Sprintf("endpoints.ips[%d]", i), "%q is not a unicast IP address (e.g. 192.0.2.10 or 2001:db8::10)", s)
		}
	}
}

func (f *Fleet) validateSweep(is *issues) {
	s := f.Sweep
	if s.Scheme != "http" && s.Scheme != "https" {
		is.add("sweep.scheme", "scheme must be http or https, not %q", s.Scheme)
	}
	if s.Port < 0 || s.Port > 65535 {
		is.add("sweep.port", "port must be 1-65535, or 0 for the agent's listener port, not %d", s.Port)
	}
	if !strings.HasPrefix(s.HealthPath, "/") {
		is.add("sweep.health_path", "health_path %q must start with /", s.HealthPath)
	}
	positive(is, "sweep.timeout", s.Timeout)
	if s.FailAfter < 1 {
		is.add("sweep.fail_after", "fail_after must be at least 1, not %d", s.FailAfter)
	}
	if s.RecoverAfter < 1 {
		is.add("sweep.recover_after", "recover_after must be at least 1, not %d", s.RecoverAfter)
	}
	if s.AlertWebhook != "" {
		if err := checkURL(s.AlertWebhook, "http", "https"); err != nil {
			// The URL may hold a secret: do not repeat it.
			is.add("sweep.alert_webhook", "alert_webhook is not an http(s) URL with a host: %v", err)
		}
	}
}

// checkURL accepts an absolute URL with one of the schemes and a host.
func checkURL(s string, schemes ...string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL") // url's error repeats the URL, which may hold a secret
	}
	ok := false
	for _, sc := range schemes {
		ok = ok || u.Scheme == sc
	}
	if !ok {
		return fmt.Errorf("scheme must be %s", strings.Join(schemes, " or "))
	}
	if u.Host == "" {
		return fmt.Errorf("URL has no host")
	}
	return nil
}
