package notify

import (
	"context"
	"encoding/json"

	"github.com/edgectl/edgectl/fleet"
)

// webhook posts the Event as JSON: the generic integration (and
// sweep.alert_webhook). Any 2xx answer is delivery.
type webhook struct {
	*sender
	url string
}

func newWebhook(a fleet.Alert, s *sender) (Notifier, error) {
	return &webhook{sender: s, url: a.URL}, nil
}

func (w *webhook) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return w.post(ctx, w.url, body, byStatus)
}
