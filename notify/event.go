package notify

import "time"

// Kinds of events: what changed.
const (
	// KindAddress: a host's address of one family went down or came back
	// (Status down or recovered).
	KindAddress = "address"
	// KindDNSChange: a record was added or removed (Status added or
	// removed).
	KindDNSChange = "dns_change"
	// KindDNSRefused: a change was held back by a safety rule (Status
	// refused, Error says which), or no longer is (Status cleared).
	KindDNSRefused = "dns_refused"
	// KindDNSDrift: a record that is no fleet address appeared (Status
	// drift) or went away (Status cleared).
	KindDNSDrift = "dns_drift"
	// KindOrigin: the agent answers but its upstreams are down (Status
	// degraded) or back (Status recovered).
	KindOrigin = "origin"
	// KindCert: a served certificate crossed a threshold (Status warn
	// under 14 days, fail under 3 or refused, ok once renewed).
	KindCert = "cert"
)

// Severities, for notifiers that colour or route by them.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Event is one transition worth telling people about. Its JSON is what the
// generic webhook posts; host, family, address, status, error, time and
// text keep the shape of the sweep's earlier alert webhook.
type Event struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Host     string `json:"host,omitempty"`
	// Family is ipv4 or ipv6 for address events, A or AAAA for DNS ones.
	Family  string `json:"family,omitempty"`
	Address string `json:"address,omitempty"`
	// Name is the DNS name, for DNS events.
	Name   string    `json:"name,omitempty"`
	Status string    `json:"status"`
	Error  string    `json:"error"`
	Time   time.Time `json:"time"`
	// Text is the one-line message people read; chat notifiers send it as
	// is. It starts with "edgectl", which also satisfies a DingTalk
	// robot's keyword rule when the keyword is "edgectl".
	Text string `json:"text"`
}

// Key identifies what an event is about (its kind and subject, not its
// status): two events with one key are transitions of one thing.
func (e Event) Key() string {
	return e.Kind + "/" + e.Host + "/" + e.Family + "/" + e.Name + "/" + e.Address
}
