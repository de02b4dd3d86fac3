package dnsrecords

import (
	"fmt"
	"strings"

	"github.com/libdns/rfc2136"
	"github.com/miekg/dns"
)

// DefaultTSIGAlgorithm is lego's default for RFC2136_TSIG_ALGORITHM.
const DefaultTSIGAlgorithm = "hmac-sha1."

// newRFC2136 updates the zone on its primary (dns.nameserver) with RFC 2136
// dynamic updates and reads it with a zone transfer (AXFR), both over TCP
// and signed with the TSIG key RFC2136_TSIG_KEY (its name),
// RFC2136_TSIG_SECRET (base64) and RFC2136_TSIG_ALGORITHM (default
// hmac-sha1., lego's). The primary must allow both for that key, e.g. in
// BIND: allow-update { key "NAME"; }; allow-transfer { key "NAME"; };
func newRFC2136(c Config, cr *creds) (Provider, error) {
	if c.Nameserver == "" {
		return nil, fmt.Errorf("rfc2136 needs dns.nameserver (the primary's host:port)")
	}
	key, err := cr.need("RFC2136_TSIG_KEY")
	if err != nil {
		return nil, err
	}
	secret, err := cr.need("RFC2136_TSIG_SECRET")
	if err != nil {
		return nil, err
	}
	alg := dns.Fqdn(strings.ToLower(cr.get("RFC2136_TSIG_ALGORITHM")))
	if alg == "." {
		alg = DefaultTSIGAlgorithm
	}
	switch alg {
	case dns.HmacSHA1, dns.HmacSHA224, dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512:
	default:
		return nil, errorf(ErrCredentials, "RFC2136_TSIG_ALGORITHM %q is not one of hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512", strings.TrimSuffix(alg, "."))
	}
	p := &rfc2136.Provider{KeyName: key, KeyAlg: alg, Key: secret, Server: c.Nameserver}
	return &viaLibdns{p: p, zone: c.Zone, timeout: c.Timeout}, nil
}

// errorf is fmt.Errorf wrapping sentinel.
func errorf(sentinel error, format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, a...)...)
}
