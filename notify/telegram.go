package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgectl/edgectl/fleet"
)

// DefaultTelegramAPI is the Bot API server a telegram entry without url:
// talks to.
const DefaultTelegramAPI = "https://api.telegram.org"

// telegram calls the Bot API's sendMessage: POST {api}/bot{token}/sendMessage
// with {"chat_id","text"}. The API answers {"ok":true,...} or
// {"ok":false,"error_code":N,"description":...}; 429 and 5xx are retried.
type telegram struct {
	*sender
	endpoint string
	chatID   string
}

func newTelegram(a fleet.Alert, s *sender) (Notifier, error) {
	api := strings.TrimSuffix(a.URL, "/")
	if api == "" {
		api = DefaultTelegramAPI
	}
	if a.Token == "" || a.ChatID == "" {
		return nil, fmt.Errorf("alert %s: telegram needs token and chat_id", s.name)
	}
	return &telegram{sender: s, endpoint: api + "/bot" + a.Token + "/sendMessage", chatID: a.ChatID}, nil
}

func (n *telegram) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(struct {
		ChatID                string `json:"chat_id"`
		Text                  string `json:"text"`
		DisableWebPagePreview bool   `json:"disable_web_page_preview"`
	}{n.chatID, e.Text, true})
	if err != nil {
		return err
	}
	return n.post(ctx, n.endpoint, body, telegramAnswer)
}

func telegramAnswer(status int, body []byte) (bool, error) {
	var a struct {
		OK          bool   `json:"ok"`
		ErrorCode   int    `json:"error_code"`
		Description string `json:"description"`
	}
	if json.Unmarshal(body, &a) != nil {
		return byStatus(status, body)
	}
	if a.OK && status == http.StatusOK {
		return false, nil
	}
	retry := status >= 500 || status == http.StatusTooManyRequests || a.ErrorCode == http.StatusTooManyRequests
	return retry, fmt.Errorf("telegram answered %d: %s", a.ErrorCode, a.Description)
}
