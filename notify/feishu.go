package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/edgectl/edgectl/fleet"
)

// feishu posts to a Feishu (Lark) group bot: {"msg_type":"text","content":
// {"text":...}}. With a secret (the bot's signature setting) the body also
// holds timestamp (seconds) and sign = base64(HMAC-SHA256 keyed with
// timestamp+"\n"+secret over an empty message). Feishu answers
// {"code":0,"msg":"success"} (older bots: {"StatusCode":0}); 11232 (too
// many requests) is retried.
type feishu struct {
	*sender
	url, secret string
}

func newFeishu(a fleet.Alert, s *sender) (Notifier, error) {
	return &feishu{sender: s, url: a.URL, secret: a.Secret}, nil
}

func (n *feishu) Notify(ctx context.Context, e Event) error {
	msg := struct {
		Timestamp string            `json:"timestamp,omitempty"`
		Sign      string            `json:"sign,omitempty"`
		MsgType   string            `json:"msg_type"`
		Content   map[string]string `json:"content"`
	}{MsgType: "text", Content: map[string]string{"text": e.Text}}
	if n.secret != "" {
		msg.Timestamp = strconv.FormatInt(n.now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(msg.Timestamp+"\n"+n.secret))
		msg.Sign = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return n.post(ctx, n.url, body, feishuAnswer)
}

func feishuAnswer(status int, body []byte) (bool, error) {
	var a struct {
		Code       *int   `json:"code"`
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"`
	}
	if status < 200 || status > 299 || json.Unmarshal(body, &a) != nil {
		if retry, err := byStatus(status, body); err != nil {
			return retry, err
		}
		return false, fmt.Errorf("feishu answered: %s", snippet(body))
	}
	code := a.Code
	if code == nil {
		code = a.StatusCode
	}
	switch {
	case code == nil:
		return false, fmt.Errorf("feishu answered without a code: %s", snippet(body))
	case *code == 0:
		return false, nil
	}
	return *code == 11232, fmt.Errorf("feishu answered code %d: %s", *code, a.Msg)
}
