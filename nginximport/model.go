package nginximport

import (
	"time"

	"github.com/edgectl/edgectl/nginxconf"
)

// The translation is kept in this small model, rendered to YAML by
// render.go: agentconfig's structs would print every zero value, and two
// keys of the contract (limits, an upstream's read_timeout) are written
// here whether or not this build's agentconfig knows them yet.

type listenerOut struct {
	addr string
	tls  bool
	from string
}

type serverOut struct {
	addr   string
	backup bool
	weight int
	from   string
}

type upstreamOut struct {
	name       string
	from       string
	d          *nginxconf.Directive // the upstream block, nil for one made for an address
	scheme     string               // "" = http
	serverName string
	caFile     string
	servers    []serverOut
	policy     string
	maxFails   *int
	failTO     time.Duration
	tries      int
	keepalive  *int
	keepTO     time.Duration
	connect    time.Duration
	response   time.Duration
	read       time.Duration
	used       bool
	unusable   bool // no server the agent can dial
	// timeouts seen per key, for the note when locations disagree
	seenConnect, seenRead map[time.Duration]string
}

type routeOut struct {
	host, path, upstream, from string
	owner                      *serverInfo // the server block it came from
}

type streamOut struct {
	listen, upstream, from string
}

type limitsOut struct {
	maxBody                        *int64
	header, body, send, idle       time.Duration
	maxBodyFrom, idleFrom          string
	headerFrom, bodyFrom, sendFrom string
}

type model struct {
	listeners []*listenerOut
	redirect  *bool
	upstreams []*upstreamOut
	routes    []routeOut
	streams   []streamOut
	limits    limitsOut
}
