package notify

import (
	"context"
	"encoding/json"

	"github.com/edgectl/edgectl/fleet"
)

// wecom posts to a WeCom (WeChat Work) group robot:
// {"msgtype":"text","text":{"content":...}}. WeCom answers HTTP 200 with
// {"errcode":0,"errmsg":"ok"}; 45009 (over the rate limit) is retried.
type wecom struct {
	*sender
	url string
}

func newWeCom(a fleet.Alert, s *sender) (Notifier, error) {
	return &wecom{sender: s, url: a.URL}, nil
}

func (n *wecom) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(map[string]any{"msgtype": "text", "text": map[string]string{"content": e.Text}})
	if err != nil {
		return err
	}
	return n.post(ctx, n.url, body, errcodeAnswer("wecom", 45009))
}
