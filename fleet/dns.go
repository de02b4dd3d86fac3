package fleet

import (
	"fmt"
	"strconv"
	"strings"
)

// DNS providers edgectl can change A and AAAA records with (package
// dnsrecords has one implementation per name).
var DNSProviders = []string{"alidns", "cloudflare", "rfc2136", "tencentcloud"}

// DNSCredentialsEnv lists, per DNS provider, the environment variables it
// needs: the ones lego's DNS-01 provider of the same name reads, so one set
// of credentials serves certificates and records. Cloudflare also takes
// lego's other names (CF_DNS_API_TOKEN, CLOUDFLARE_ZONE_API_TOKEN, …);
// this is the usual one.
var DNSCredentialsEnv = map[string][]string{
	"alidns":       {"ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY"},
	"cloudflare":   {"CLOUDFLARE_DNS_API_TOKEN"},
	"rfc2136":      {"RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET"},
	"tencentcloud": {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"},
}

// Defaults of the dns: section.
const (
	DefaultDNSTTL        = 60
	DefaultDNSMinHealthy = 1
	DefaultDNSMaxRemove  = "33%"
	// DNSTTLWarn: records whose TTL is above this many seconds keep
	// clients on a removed address too long; plan and check warn.
	DNSTTLWarn = 300
)

// DNS makes the round-robin A and AAAA records of names follow health:
// edgectl dns plan|sync and sweep --dns add every healthy fleet address and
// remove the failed ones, within the safety limits below.
type DNS struct {
	// Provider is where the zone is hosted: cloudflare, alidns,
	// tencentcloud (DNSPod) or rfc2136 (any primary that takes signed
	// dynamic updates: BIND, Knot, PowerDNS).
	Provider string `yaml:"provider"`
	// Zone is the zone the names live in, e.g. example.com.
	Zone string `yaml:"zone"`
	// Names are the round-robin names, each the zone or below it
	// (default: domains, without wildcards).
	Names []string `yaml:"names"`
	// TTL in seconds of the records edgectl adds (default 60). Clients keep
	// a removed address for up to the TTL: above 300 is warned about.
	TTL int `yaml:"ttl"`
	// Nameserver is the primary's host:port, for rfc2136 (required there).
	Nameserver string `yaml:"nameserver"`
	// CredentialsEnv names the environment variables holding the
	// provider's credentials; they are read from the environment only and
	// never printed. Default: the variables lego's DNS-01 provider of that
	// name reads (see DNSCredentialsEnv; rfc2136 also reads
	// RFC2136_TSIG_ALGORITHM, default hmac-sha1 as lego).
	CredentialsEnv []string `yaml:"credentials_env"`
	// MinHealthy: never remove the last this many addresses of a family
	// (A or AAAA) of a name, even when they fail (default 1; 0 lets a
	// family go empty).
	MinHealthy int `yaml:"min_healthy"`
	// MaxRemove bounds the removals of one run, per name and family: a
	// count ("2") or a share of that family's records ("33%", rounded down
	// but at least one). Default 33%.
	MaxRemove string `yaml:"max_remove"`
}

// MaxRemoveOf is how many of n records of one name and family one run may
// remove under max_remove (which must be valid).
func (d *DNS) MaxRemoveOf(n int) int {
	if pct, ok := strings.CutSuffix(d.MaxRemove, "%"); ok {
		p, _ := strconv.Atoi(pct)
		if n == 0 || p == 0 {
			return 0
		}
		return max(1, n*p/100)
	}
	c, _ := strconv.Atoi(d.MaxRemove)
	return c
}

// DNSNames are the names whose records follow health: dns.names, else the
// domains without wildcards. Nil without a dns: section.
func (f *Fleet) DNSNames() []string {
	if f.DNS == nil {
		return nil
	}
	if len(f.DNS.Names) > 0 {
		return f.DNS.Names
	}
	var out []string
	for _, d := range f.Domains {
		if !strings.HasPrefix(d, "*.") {
			out = append(out, d)
		}
	}
	return out
}

// applyDNSDefaults fills the dns: section's defaults; present says which
// numbers were written.
func (f *Fleet) applyDNSDefaults(present func(string) bool) {
	d := f.DNS
	if d == nil {
		return
	}
	d.Zone = strings.ToLower(d.Zone)
	for i, n := range d.Names {
		d.Names[i] = strings.ToLower(n)
	}
	if !present("dns.ttl") {
		d.TTL = DefaultDNSTTL
	}
	if !present("dns.min_healthy") {
		d.MinHealthy = DefaultDNSMinHealthy
	}
	def(&d.MaxRemove, DefaultDNSMaxRemove)
	if len(d.CredentialsEnv) == 0 {
		d.CredentialsEnv = append([]string(nil), DNSCredentialsEnv[d.Provider]...)
	}
}

func (f *Fleet) validateDNS(is *issues) {
	if f.Rollout.DNSDrain && f.DNS == nil {
		is.add("rollout.dns_drain", "dns_drain takes each host out of DNS while it is deployed and needs a dns: section (provider, zone); add one or set dns_drain: false")
	}
	d := f.DNS
	if d == nil {
		return
	}
	if !contains(DNSProviders, d.Provider) {
		if d.Provider == "" {
			is.addKey("dns", "dns needs a provider: %s", strings.Join(DNSProviders, ", "))
		} else {
			is.add("dns.provider", "provider %q is not one of %s", d.Provider, strings.Join(DNSProviders, ", "))
		}
	}
	zoneOK := false
	switch err := checkDomain(d.Zone, false); {
	case d.Zone == "":
		is.addKey("dns", "dns needs a zone: the zone its names live in, e.g. example.com")
	case err != nil && !(validLabel(d.Zone) && !strings.Contains(d.Zone, ".")):
		is.add("dns.zone", "zone: %v", err)
	default:
		zoneOK = true
	}
	names := f.DNSNames()
	if len(names) == 0 {
		is.addKey("dns", "dns has no names: list them under dns.names, or set domains:")
	}
	seen := map[string]bool{}
	for i, n := range names {
		p := fmt.Sprintf("dns.names[%d]", i)
		if len(d.Names) == 0 {
			p = fmt.Sprintf("domains[%d]", i)
		}
		if err := checkDomain(n, false); err != nil {
			is.add(p, "%v", err)
			continue
		}
		if seen[n] {
			is.add(p, "%s is listed twice", n)
		}
		seen[n] = true
		if zoneOK && n != d.Zone && !strings.HasSuffix(n, "."+d.Zone) {
			is.add(p, "%s is not in zone %s; list names of the zone only (or change dns.zone)", n, d.Zone)
		}
	}
	if d.TTL < 1 || d.TTL > 86400 {
		is.add("dns.ttl", "ttl must be 1-86400 seconds, not %d", d.TTL)
	}
	if d.Provider == "rfc2136" && d.Nameserver == "" {
		is.addKey("dns", "provider rfc2136 needs nameserver: the primary's host:port, e.g. \"198.51.100.53:53\"")
	}
	if d.Nameserver != "" {
		if err := checkHostPort(d.Nameserver, true); err != nil {
			is.add("dns.nameserver", "nameserver: %v (host:port of the primary, e.g. \"198.51.100.53:53\" or \"[2001:db8::53]:53\")", err)
		}
	}
	for i, v := range d.CredentialsEnv {
		if !validVarName(v) {
			is.add(fmt.Sprintf("dns.credentials_env[%d]", i), "%q is not an environment variable name; list the variables' names (their values stay in the environment)", v)
		}
	}
	if d.MinHealthy < 0 {
		is.add("dns.min_healthy", "min_healthy must be 0 or more, not %d", d.MinHealthy)
	}
	if err := checkMaxRemove(d.MaxRemove); err != nil {
		is.add("dns.max_remove", "max_remove %q: %v", d.MaxRemove, err)
	}
}

func checkMaxRemove(s string) error {
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.Atoi(pct)
		if err != nil || p < 1 || p > 100 {
			return fmt.Errorf("a share must be 1%%-100%%, e.g. 33%%")
		}
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("must be a count of at least 1 (e.g. 2) or a share (e.g. 33%%)")
	}
	return nil
}
