// Package fleet defines fleet.yaml, the file that describes a fleet of hosts
// for edgectl deploy, cert and sweep: its schema (documented field by field:
// this is the user's reference), loading, defaults and validation with
// file:line:col errors.
//
// A fleet file names the hosts (each with an IPv4 address, an IPv6 address,
// or both, and optionally a separate SSH address), how to reach them over
// SSH, the public domains they serve, the ACME account that issues one
// certificate for all of them, the agent.yaml rendered onto every host, an
// optional backend service, and the settings of rolling deploys and of the
// health sweep:
//
//	ssh:
//	  user: root
//	hosts:
//	  - name: edge-1
//	    ipv4: 192.0.2.10
//	    ipv6: "2001:db8::10"
//	    labels: [eu]
//	domains: [api.example.com]
//	acme:
//	  email: ops@example.com
//	agent:
//	  upstreams:
//	    api:
//	      servers: [{addr: "[::1]:8000"}]
//	  routes: [{upstream: api}]
//	sweep:
//	  alert_webhook: ${EDGECTL_ALERT_WEBHOOK}
//
// Loading is strict. Unknown keys, values of the wrong type, duplicate host
// names or addresses, invalid IP addresses and every other problem are
// reported together in one *yamlfile.Error, each with the file, line and
// column to fix, so a user sees the whole list at once.
//
// ${VAR} in any string value is replaced by the environment variable VAR
// before validation; a variable that is not set is an error, and $$ stands
// for a literal dollar sign. Secrets such as webhook URLs belong in the
// environment, never in the file. A leading ~/ in a file path
// (ssh.identity_file, ssh.known_hosts, acme.ca_certificates) is replaced by
// $HOME at load time.
//
// Keys left out get the defaults documented on each field. A number or a
// duration that is written is taken as written: "rollout: {drain: 0s}"
// means no drain, and "rollout: {batch: 0}" is an error rather than a
// silent 1.
//
// The agent: section is agent.yaml itself, decoded, defaulted and validated
// by package agentconfig, so a mistake there is reported at its line in
// fleet.yaml just like any other.
package fleet
