// Package certstore is the agent's TLS certificate store: it serves the
// certificates under agent.yaml's tls.certs_dir (default /etc/edgectl/certs)
// to listeners with `tls: true`, chooses one per handshake by SNI and picks
// up new or renewed certificates without a restart.
//
// # Layout
//
// Every certificate is a directory holding a PEM pair:
//
//	/etc/edgectl/certs/<name>/fullchain.pem   leaf first, then intermediates (0644)
//	/etc/edgectl/certs/<name>/privkey.pem     the leaf's private key (0600)
//
// Directories whose name starts with "." are ignored, so a distributor may
// stage files there and rename them into place. The store never checks file
// modes or owners: a key readable only by the agent's user is what it
// expects. A missing or empty directory is not an error: the first deploy
// comes before `edgectl cert issue`, and handshakes fail with an error that
// says so until a certificate appears.
//
// # Selection
//
// GetCertificate looks the client's SNI name up, case-insensitively, in the
// DNS names of every loaded certificate: an exact name first, then a
// wildcard ("*.example.com" matches exactly one label, so a.example.com but
// neither example.com nor a.b.example.com), then the default certificate:
// the one in the directory named "default" if there is one, else the one
// whose directory name sorts first. When two certificates carry the same
// name, one that had not expired when it was loaded wins, then the
// directory that sorts first. Lookups read an immutable index through an
// atomic pointer: they take no lock and are safe for concurrent use.
//
// # Reload
//
// Reload re-reads the directory; Watch polls it (the size, mtime and mode
// of every file: a few stat calls) and reloads when something changed.
// A pair that fails to load (unreadable or unparsable PEM, a key that does
// not match the certificate) is logged and reported by Status while the
// other certificates keep serving. A pair that loaded before and is broken
// now keeps serving its last good version, flagged as stale in Status. An
// expired certificate still serves and is flagged as expired.
//
// # Use
//
//	store, err := certstore.Open(cfg.TLS.CertsDir, log)
//	if err != nil {
//		return err
//	}
//	go store.Watch(ctx, 0)
//	ln := tls.NewListener(tcp, store.TLSConfig())
package certstore
