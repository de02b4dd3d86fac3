package notify

import (
	"context"
	"encoding/json"

	"github.com/edgectl/edgectl/fleet"
)

// slack posts to a Slack incoming webhook: {"text": ...}. Slack answers
// 200 "ok", or 4xx with a reason such as invalid_token or
// channel_not_found (final), 429 when rate limited (retried). Mattermost
// and Rocket.Chat incoming webhooks take the same body.
type slack struct {
	*sender
	url string
}

func newSlack(a fleet.Alert, s *sender) (Notifier, error) {
	return &slack{sender: s, url: a.URL}, nil
}

func (n *slack) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{Text: e.Text})
	if err != nil {
		return err
	}
	return n.post(ctx, n.url, body, byStatus)
}
