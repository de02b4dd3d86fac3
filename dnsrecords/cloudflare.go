package dnsrecords

import (
	"github.com/libdns/cloudflare"
)

// cloudflarePage is how many records one GET of a zone's records returns
// (Cloudflare's default per_page); libdns/cloudflare v0.2.1 reads one page.
const cloudflarePage = 100

// newCloudflare talks to Cloudflare's API through libdns/cloudflare, with
// an API token (Zone.DNS:Edit) from CLOUDFLARE_DNS_API_TOKEN or
// CF_DNS_API_TOKEN, and optionally a Zone:Read token from
// CLOUDFLARE_ZONE_API_TOKEN or CF_ZONE_API_TOKEN (lego's names). lego's
// global API key (CLOUDFLARE_EMAIL + CLOUDFLARE_API_KEY) is not supported
// by the library: create a token.
//
// Records must be "DNS only" (grey cloud): a proxied record's clients see
// Cloudflare's addresses, not the fleet's.
func newCloudflare(c Config, cr *creds) (Provider, error) {
	token, err := cr.need("CLOUDFLARE_DNS_API_TOKEN", "CF_DNS_API_TOKEN")
	if err != nil {
		if cr.get("CLOUDFLARE_API_KEY", "CF_API_KEY") != "" {
			return nil, errorf(ErrCredentials, "CLOUDFLARE_API_KEY (a global API key) is not supported for records: create an API token with Zone.DNS:Edit on %s and export CLOUDFLARE_DNS_API_TOKEN", c.Zone)
		}
		return nil, err
	}
	p := &cloudflare.Provider{APIToken: token, ZoneToken: cr.get("CLOUDFLARE_ZONE_API_TOKEN", "CF_ZONE_API_TOKEN")}
	return &viaLibdns{p: p, zone: c.Zone, timeout: c.Timeout, full: cloudflarePage}, nil
}
