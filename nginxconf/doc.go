// Package nginxconf reads nginx configuration as `nginx -T` prints it: every
// file nginx loaded, each after a "# configuration file NAME:" line, with
// include directives resolved against the dumped files. It gives the
// directive tree with each directive's file and line, and nginx's time and
// size values. The parser is tolerant (a syntax error ends the file where it
// happens) because nginx -T only prints a configuration that nginx already
// accepted; what it reads is used by edgectl diagnose (to find the proxy's
// upstreams) and edgectl import nginx (to translate the configuration into
// agent.yaml).
package nginxconf
