package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/edgectl/edgectl/fleet"
)

// dingtalk posts to a DingTalk group robot: {"msgtype":"text","text":
// {"content":...}}. With a secret (the robot's "sign" setting) the URL
// gets timestamp (milliseconds) and sign = base64(HMAC-SHA256(secret,
// timestamp+"\n"+secret)), URL-encoded. DingTalk answers HTTP 200 with
// {"errcode":0,"errmsg":"ok"}; another errcode is a failure, 130101 (sent
// too fast) is retried.
type dingtalk struct {
	*sender
	url, secret string
}

func newDingTalk(a fleet.Alert, s *sender) (Notifier, error) {
	return &dingtalk{sender: s, url: a.URL, secret: a.Secret}, nil
}

func (n *dingtalk) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(map[string]any{"msgtype": "text", "text": map[string]string{"content": e.Text}})
	if err != nil {
		return err
	}
	u := n.url
	if n.secret != "" {
		ts := strconv.FormatInt(n.now().UnixMilli(), 10)
		mac := hmac.New(sha256.New, []byte(n.secret))
		mac.Write([]byte(ts + "\n" + n.secret))
		sign := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		u += sep(u) + "timestamp=" + ts + "&sign=" + url.QueryEscape(sign)
	}
	return n.post(ctx, u, body, errcodeAnswer("dingtalk", 130101))
}

// errcodeAnswer judges DingTalk's and WeCom's {"errcode","errmsg"}
// answers; the codes listed are rate limits, retried.
func errcodeAnswer(vendor string, rateLimited ...int) judge {
	return func(status int, body []byte) (bool, error) {
		var a struct {
			ErrCode *int   `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if status < 200 || status > 299 || json.Unmarshal(body, &a) != nil || a.ErrCode == nil {
			if retry, err := byStatus(status, body); err != nil {
				return retry, err
			}
			return false, fmt.Errorf("%s answered without an errcode: %s", vendor, snippet(body))
		}
		if *a.ErrCode == 0 {
			return false, nil
		}
		retry := false
		for _, c := range rateLimited {
			retry = retry || *a.ErrCode == c
		}
		return retry, fmt.Errorf("%s answered errcode %d: %s", vendor, *a.ErrCode, a.ErrMsg)
	}
}

// sep is what joins a query parameter to u.
func sep(u string) string {
	if p, err := url.Parse(u); err == nil && p.RawQuery != "" {
		return "&"
	}
	return "?"
}
