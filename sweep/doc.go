// Package sweep checks a whole fleet's health in one pass: every host over
// IPv4 and IPv6 separately (an HTTPS request for the health path, dialled to
// the exact address with the fleet's domain as SNI and Host, never falling
// back from one family to the other), the certificate each address serves,
// optionally the agent's own view through SSH (--deep), and the domain's
// A/AAAA records against the fleet's addresses.
//
// [Run] returns a [Report]; it prints nothing. Around it sit the pieces a
// cron job or a --watch loop needs: [State] counts consecutive failures and
// passes per host and family, watches the other conditions (the origin
// down behind a live agent, certificates under 14 and 3 days, DNS records
// that are no fleet address) and yields [Alert]s only on transitions,
// [State.Deliver] hands them to package notify's notifiers and keeps what
// was not delivered, [State.ActDNS] (sweep --dns) makes the records follow
// the state's verdicts through package dnssync, [WriteMetrics] renders
// Prometheus text for node_exporter's textfile collector, and
// [AcquireLock] keeps two sweeps from overlapping.
//
// Thresholds: a certificate with fewer than [TLSWarnDays] days left warns,
// one with fewer than [TLSFailDays] (or expired, untrusted, or not covering
// the domain) fails. Either makes the fleet degraded.
package sweep
