// Package certs issues one ACME certificate for a whole fleet and puts it on
// every host: the library behind `edgectl cert issue|renew|status`.
//
// With DNS round-robin every host answers for the same names, so a CA's
// HTTP-01 request may land on any of them, over IPv4 or IPv6. Instead of
// one ACME client per host (N orders, N accounts, racing renewals, and a
// validation that fails whenever the CA picks a node that did not place the
// token), edgectl places one order with lego from the operator's machine and:
//
//   - pre-flight (preflight.go): resolves every name's A and AAAA records,
//     checks that each address is a fleet host and that port 80 on it
//     serves a probe token from the agent's acme_challenge_dir, on both
//     families, before any order is placed;
//   - HTTP-01 (http01.go): writes the token into acme_challenge_dir on
//     every host (over SSH, through a Dialer) and checks that every address
//     serves it before the CA is asked to validate; removes it afterwards
//     whatever the outcome;
//   - DNS-01 (dns01.go, providers.go): a lego DNS provider chosen by name,
//     credentials from the environment;
//   - distribution (distribute.go): writes fullchain.pem and privkey.pem
//     into tls.certs_dir/<name>/ on every host, where the agent's
//     certificate store picks them up without a restart, then makes a TLS
//     handshake to every host address and checks the new serial is served;
//   - renewal (renew.go): nothing until a third of the lifetime remains, or
//     the CA's ARI window has opened; a lock (lock.go) keeps cron runs from
//     overlapping;
//   - status (status.go): per name, days left, issuer and the serial every
//     host address serves.
//
// The account key, registration, certificate and key live in a local state
// directory (state.go, account.go): 0700 directory, 0600 files.
//
// The package prints nothing: progress goes to Config.Log, results are
// returned as values.
package certs
