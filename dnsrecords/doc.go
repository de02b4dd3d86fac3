// Package dnsrecords reads and changes the A and AAAA records of a name at
// a DNS provider, through one small interface, [Provider]: list the
// records of a name, add one, delete one. Each provider is one file plus
// one entry of the table [New] reads:
//
//	cloudflare    github.com/libdns/cloudflare (API token)
//	rfc2136       github.com/libdns/rfc2136: dynamic updates and zone
//	              transfers signed with TSIG, to any primary (BIND, Knot,
//	              PowerDNS)
//	alidns        Alibaba Cloud DNS, through its SDK (the one lego uses)
//	tencentcloud  DNSPod on Tencent Cloud, through its SDK (the one lego uses)
//
// Credentials come only from the environment, from the variables lego's
// DNS-01 provider of the same name reads, so one set serves certificates
// and records. They never appear in an error: every provider's errors pass
// through a filter that replaces each credential's value.
//
// What to change is decided by package dnssync; this package only does what
// it is told, and prints nothing.
package dnsrecords
