package certs

import (
	"fmt"
	"time"

	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/lego"
)

// setDNS01 installs the DNS provider named by acme.dns_provider. With a
// resolver (fleet.yaml's resolver or --resolver), lego looks up CNAMEs and
// waits for the TXT record on that server only, instead of the system
// resolver and the zone's authoritative servers: the operator named the
// server to trust.
func setDNS01(client *lego.Client, c *Config) error {
	p, err := NewDNSProvider(c.Fleet.ACME.DNSProvider)
	if err != nil {
		return err
	}
	var opts []dns01.ChallengeOption
	if c.Resolver != "" {
		opts = append(opts,
			dns01.AddRecursiveNameservers([]string{c.Resolver}),
			dns01.DisableAuthoritativeNssPropagationRequirement(),
			dns01.RecursiveNSsPropagationRequirement(),
			dns01.AddDNSTimeout(10*time.Second),
		)
	}
	if err := client.Challenge.SetDNS01Provider(p, opts...); err != nil {
		return fmt.Errorf("set up dns-01 with %s: %w", c.Fleet.ACME.DNSProvider, err)
	}
	return nil
}
