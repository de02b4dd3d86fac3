package notify

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/edgectl/edgectl/fleet"
)

// Notifier delivers events to one destination.
type Notifier interface {
	// Name is how messages about delivery name this destination (never
	// its URL): the entry's name, or its type.
	Name() string
	// Notify delivers e, retrying within its bounds; the error says what
	// failed without any URL, token or secret.
	Notify(ctx context.Context, e Event) error
}

// Options tune delivery. The zero value is production's.
type Options struct {
	// Client sends the requests (default: a client with Timeout).
	Client *http.Client
	// Timeout bounds one attempt (default 5s).
	Timeout time.Duration
	// Attempts is how often one event is tried (default 3).
	Attempts int
	// Backoff is the wait before the second attempt, doubled after each
	// (default 1s).
	Backoff time.Duration
	// Now is the clock for signatures (default time.Now).
	Now func() time.Time
}

// kinds builds a notifier per fleet.yaml alert type.
var kinds = map[string]func(a fleet.Alert, s *sender) (Notifier, error){
	"dingtalk": newDingTalk,
	"feishu":   newFeishu,
	"slack":    newSlack,
	"telegram": newTelegram,
	"webhook":  newWebhook,
	"wecom":    newWeCom,
}

// Kinds lists the alert types this build can deliver to, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// New returns one notifier per entry of f.Alerts, then one webhook for
// sweep.alert_webhook unless an alerts: webhook has the same URL.
func New(f *fleet.Fleet, opts Options) ([]Notifier, error) {
	var out []Notifier
	hooks := map[string]bool{}
	for i, a := range f.Alerts {
		n, err := NewOne(a, f.AlertName(i), opts)
		if err != nil {
			return nil, err
		}
		if a.Type == "webhook" {
			hooks[a.URL] = true
		}
		out = append(out, n)
	}
	if u := f.Sweep.AlertWebhook; u != "" && !hooks[u] {
		n, err := NewOne(fleet.Alert{Type: "webhook", URL: u}, "sweep.alert_webhook", opts)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// NewOne returns the notifier for one alerts: entry, called name in
// messages.
func NewOne(a fleet.Alert, name string, opts Options) (Notifier, error) {
	mk, ok := kinds[a.Type]
	if !ok {
		return nil, fmt.Errorf("alert %s: type %q is not one of %v", name, a.Type, Kinds())
	}
	s := newSender(name, opts, a.URL, a.Token, a.Secret)
	return mk(a, s)
}
