// Package nginximport translates an nginx configuration, as `nginx -T`
// prints it, into an agent.yaml for the edgectl agent, and lists what it
// could not translate: the library behind `edgectl import nginx`.
//
// What translates (see Translate):
//
//   - listen: every port becomes one dual-stack "[::]:port" listener
//     ("listen 80" and "listen [::]:80" are one), "ssl" makes it tls: true;
//   - server_name: the route hosts ("_" and the default server of a port
//     also answer any host, as nginx does for names it does not know);
//   - location prefixes (and "^~") with proxy_pass: routes;
//   - upstream blocks: upstreams with backup, weight, max_fails,
//     fail_timeout, keepalive, least_conn; a proxy_pass to an address: an
//     upstream of one server;
//   - proxy_connect_timeout, proxy_read_timeout: the upstream's
//     connect_timeout, response_timeout and read_timeout;
//     client_max_body_size and the client timeouts: limits;
//   - "return 301 https://$host$request_uri" (and certbot's if ($host = …)
//     form) on the plain-HTTP servers: tls.redirect_http;
//   - stream servers with proxy_pass: streams.
//
// Certificates (ssl_certificate) and the WebSocket map are noted, not
// translated: the agent takes certificates from tls.certs_dir (edgectl cert
// import copies them there) and passes WebSocket upgrades by itself.
//
// Everything else that changes what a request gets (rewrite, if, return,
// static files, caches, auth, access rules, rate limits, custom headers,
// sub_filter, exact and regex locations, …) is returned as an Item with its
// file:line and an importance: Important when requests would be answered
// differently or less safely, Cosmetic when only logs, compression, error
// pages or the like change.
//
// The package prints nothing; Dump runs nginx -T on a remote.Host.
package nginximport
