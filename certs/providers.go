package certs

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/providers/dns/alidns"
	"github.com/go-acme/lego/v4/providers/dns/cloudflare"
	"github.com/go-acme/lego/v4/providers/dns/exec"
	"github.com/go-acme/lego/v4/providers/dns/httpreq"
	"github.com/go-acme/lego/v4/providers/dns/rfc2136"
	"github.com/go-acme/lego/v4/providers/dns/tencentcloud"
)

// dnsProviders maps acme.dns_provider names to lego constructors. Each
// constructor reads its credentials from the environment variables lego
// documents for it (CLOUDFLARE_DNS_API_TOKEN, RFC2136_NAMESERVER, EXEC_PATH,
// …). Providers are imported one by one, not through lego's
// providers/dns package, which would link every cloud SDK into the binary.
var dnsProviders = map[string]func() (challenge.Provider, error){
	"alidns":       func() (challenge.Provider, error) { return alidns.NewDNSProvider() },
	"cloudflare":   func() (challenge.Provider, error) { return cloudflare.NewDNSProvider() },
	"exec":         func() (challenge.Provider, error) { return exec.NewDNSProvider() },
	"httpreq":      func() (challenge.Provider, error) { return httpreq.NewDNSProvider() },
	"rfc2136":      func() (challenge.Provider, error) { return rfc2136.NewDNSProvider() },
	"tencentcloud": func() (challenge.Provider, error) { return tencentcloud.NewDNSProvider() },
}

// DNSProviders lists the dns_provider names this build supports, sorted.
func DNSProviders() []string {
	out := make([]string, 0, len(dnsProviders))
	for n := range dnsProviders {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NewDNSProvider returns the lego DNS provider called name, configured from
// the environment. An unknown name, or missing or invalid credentials, is
// an error that says what to set.
func NewDNSProvider(name string) (challenge.Provider, error) {
	mk, ok := dnsProviders[name]
	if !ok {
		return nil, fmt.Errorf("acme.dns_provider %q is not built into edgectl; supported: %s (or exec/httpreq to call your own hook)",
			name, strings.Join(DNSProviders(), ", "))
	}
	p, err := mk()
	if err != nil {
		return nil, fmt.Errorf("dns provider %s: %w; set its variables in the environment (see https://go-acme.github.io/lego/dns/%s/)", name, err, name)
	}
	return p, nil
}
