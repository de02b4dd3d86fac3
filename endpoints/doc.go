// Package endpoints reads endpoints.txt, the operator's list of API
// addresses, and renders it into the failover JSON that clients fetch
// (docs/cli.md, "endpoints").
//
// The file format:
//
//	# comments start with #, whole-line or after values
//	DomainList:
//	log.ym1.com
//	ym2.xyz
//	xx, ym3.net          # one or more comma-separated values a line
//	IPList:
//	12.34.56.78
//	2001:db8::7
//
// Section markers (DomainList: and IPList:) are case-insensitive and may be
// indented or followed by values on the same line. Values under DomainList
// must be RFC 1123 hostnames without a trailing dot; values under IPList must
// be IPv4 or IPv6 literals without a zone. A value before any marker is an
// error. [Parse] collects every problem into one [*ParseError] whose lines
// read "file:line:col: message" (columns count bytes from 1). Duplicates,
// compared case-insensitively for hostnames and by address for IPs, keep their
// first occurrence; later ones are dropped and reported in [List.Warnings].
//
// [Render] turns a [List] into a [Document]: one API endpoint and one
// Socket.IO endpoint per host, domains first, in file order, with priorities
// 0, 1, 2, ... The package only parses and renders; it prints nothing.
package endpoints
