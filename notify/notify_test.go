package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/golden"
)

// recorder is an HTTP server on loopback that records every request and
// answers with the next of its scripted answers (the last one repeats).
type recorder struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []recorded
	answers []answer
}

type recorded struct {
	method, uri, contentType string
	body                     []byte
}

type answer struct {
	status int
	body   string
}

func newRecorder(t *testing.T, answers ...answer) *recorder {
	r := &recorder{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.RequestURI(), req.Header.Get("Content-Type"), body})
		a := r.answers[min(len(r.reqs), len(r.answers))-1]
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) log() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	for _, q := range r.reqs {
		fmt.Fprintf(&b, "%s %s\nContent-Type: %s\n%s\n", q.method, q.uri, q.contentType, q.body)
	}
	return b.Bytes()
}

// event is a fixed address-down event.
var event = Event{
	Kind: KindAddress, Severity: SeverityCritical, Host: "edge-2", Family: "ipv6", Address: "[fd00:e:d9e::12]:443",
	Status: "down", Error: "connection refused", Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	Text: "edgectl sweep: edge-2 IPv6 [fd00:e:d9e::12]:443 is DOWN after 3 failed sweeps: connection refused",
}

var fixedNow = func() time.Time { return time.Date(2025, 3, 1, 12, 0, 5, 0, time.UTC) }

const (
	testToken  = "123456:AAE-bot-token-SECRET"
	testSecret = "SECc0ffee-sign-SECRET"
)

// TestNotifierBodies sends one event through each kind to a recording
// server answering as the vendor documents success, and compares the exact
// request (method, path and query, content type, body) with a golden file.
func TestNotifierBodies(t *testing.T) {
	ok := map[string]answer{
		"webhook":  {200, ""},
		"slack":    {200, "ok"},
		"telegram": {200, `{"ok":true,"result":{"message_id":7}}`},
		"dingtalk": {200, `{"errcode":0,"errmsg":"ok"}`},
		"feishu":   {200, `{"code":0,"data":{},"msg":"success"}`},
		"wecom":    {200, `{"errcode":0,"errmsg":"ok"}`},
	}
	for _, tc := range []struct {
		name string
		a    fleet.Alert
		path string
	}{
		{"webhook", fleet.Alert{Type: "webhook"}, "/hooks/edgectl"},
		{"slack", fleet.Alert{Type: "slack"}, "/services/T000/B000/XXXXSECRET"},
		{"telegram", fleet.Alert{Type: "telegram", Token: testToken, ChatID: "-1001234567890"}, ""},
		{"dingtalk", fleet.Alert{Type: "dingtalk"}, "/robot/send?access_token=DINGSECRETTOKEN"},
		{"dingtalk_signed", fleet.Alert{Type: "dingtalk", Secret: testSecret}, "/robot/send?access_token=DINGSECRETTOKEN"},
		{"feishu", fleet.Alert{Type: "feishu"}, "/open-apis/bot/v2/hook/FEISHU-SECRET-ID"},
		{"feishu_signed", fleet.Alert{Type: "feishu", Secret: testSecret}, "/open-apis/bot/v2/hook/FEISHU-SECRET-ID"},
		{"wecom", fleet.Alert{Type: "wecom"}, "/cgi-bin/webhook/send?key=WECOM-SECRET-KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, ok[tc.a.Type])
			tc.a.URL = rec.URL + tc.path
			n, err := NewOne(tc.a, tc.a.Type, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Notify(t.Context(), event); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name+" request", filepath.Join("testdata", tc.name+".golden"), rec.log())
		})
	}
}

// The signatures in the golden files are the ones each vendor documents:
// checked here independently of the notifier's code.
func TestSignaturesFollowTheVendorsRecipes(t *testing.T) {
	mac := func(key, msg string) string {
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(msg))
		return base64.StdEncoding.EncodeToString(h.Sum(nil))
	}
	ms := fmt.Sprint(fixedNow().UnixMilli())
	ding := mac(testSecret, ms+"\n"+testSecret)
	s := fmt.Sprint(fixedNow().Unix())
	fei := mac(s+"\n"+testSecret, "")
	for file, want := range map[string][]string{
		"dingtalk_signed.golden": {"&timestamp=" + ms + "&sign=" + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(ding)},
		"feishu_signed.golden":   {`"timestamp":"` + s + `"`, `"sign":"` + fei + `"`},
	} {
		got := readFile(t, filepath.Join("testdata", file))
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %s:\n%s", file, w, got)
			}
		}
	}
}

// TestVendorErrorsAndRetries: a vendor's error answer is a failure even
// with HTTP 200; rate limits are retried (a bounded number of times);
// final errors are not; no error shows the URL, token or secret.
func TestVendorErrorsAndRetries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a       fleet.Alert
		answers []answer
		calls   int
		wantErr string // "" = delivered
	}{
		{"webhook 503 then ok", fleet.Alert{Type: "webhook"}, []answer{{503, "busy"}, {503, "busy"}, {204, ""}}, 3, ""},
		{"webhook 404 is final", fleet.Alert{Type: "webhook"}, []answer{{404, "no such hook"}}, 1, "alert n: answered HTTP 404 no such hook"},
		{"webhook 500 bounded", fleet.Alert{Type: "webhook"}, []answer{{500, "oops"}}, 3, "alert n: answered HTTP 500 oops (3 attempts)"},
		{"slack invalid_token", fleet.Alert{Type: "slack"}, []answer{{403, "invalid_token"}}, 1, "alert n: answered HTTP 403 invalid_token"},
		{"slack rate limited", fleet.Alert{Type: "slack"}, []answer{{429, "rate_limited"}, {200, "ok"}}, 2, ""},
		{"telegram chat not found", fleet.Alert{Type: "telegram", Token: testToken, ChatID: "42"},
			[]answer{{400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`}}, 1,
			"alert n: telegram answered 400: Bad Request: chat not found"},
		{"telegram 429", fleet.Alert{Type: "telegram", Token: testToken, ChatID: "42"},
			[]answer{{429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`}, {200, `{"ok":true}`}}, 2, ""},
		{"dingtalk keyword rule", fleet.Alert{Type: "dingtalk", Secret: testSecret},
			[]answer{{200, `{"errcode":310000,"errmsg":"keywords not in content"}`}}, 1, "alert n: dingtalk answered errcode 310000: keywords not in content"},
		{"dingtalk too fast", fleet.Alert{Type: "dingtalk"},
			[]answer{{200, `{"errcode":130101,"errmsg":"send too fast"}`}, {200, `{"errcode":0,"errmsg":"ok"}`}}, 2, ""},
		{"feishu sign mismatch", fleet.Alert{Type: "feishu", Secret: testSecret},
			[]answer{{200, `{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}`}}, 1,
			"alert n: feishu answered code 19021: sign match fail or timestamp is not within one hour from current time"},
		{"feishu old shape ok", fleet.Alert{Type: "feishu"}, []answer{{200, `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`}}, 1, ""},
		{"wecom invalid key", fleet.Alert{Type: "wecom"}, []answer{{200, `{"errcode":93000,"errmsg":"invalid webhook url"}`}}, 1, "alert n: wecom answered errcode 93000: invalid webhook url"},
		{"wecom rate limit", fleet.Alert{Type: "wecom"}, []answer{{200, `{"errcode":45009,"errmsg":"api freq out of limit"}`}, {200, `{"errcode":0,"errmsg":"ok"}`}}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, tc.answers...)
			tc.a.URL = rec.URL + "/hook/SECRETPATH?key=SECRETKEY"
			n, err := NewOne(tc.a, "n", Options{Backoff: time.Millisecond, Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(t.Context(), event)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("not delivered: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("err %v, want %s", err, tc.wantErr)
			}
			if got := len(rec.reqs); got != tc.calls {
				t.Fatalf("%d requests, want %d", got, tc.calls)
			}
		})
	}
}

// TestErrorsNeverShowSecrets: unreachable and refusing destinations, and a
// server that echoes the request line, never get the URL, token or secret
// into an error.
func TestErrorsNeverShowSecrets(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad request to "+r.URL.String()+" sign="+r.URL.Query().Get("sign"), http.StatusBadRequest)
	}))
	defer echo.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, base := range []string{echo.URL, closed.URL} {
		for _, typ := range Kinds() {
			a := fleet.Alert{Type: typ, URL: base + "/hook/SECRETPATH?access_token=SECRETQUERY"}
			switch typ {
			case "telegram":
				a.URL, a.Token, a.ChatID = base, testToken, "42"
			case "dingtalk", "feishu":
				a.Secret = testSecret
			}
			n, err := NewOne(a, typ, Options{Attempts: 1, Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), event)
			if err == nil {
				t.Fatalf("%s to %s: delivered", typ, base)
			}
			for _, secret := range []string{"SECRETPATH", "SECRETQUERY", testToken, "bot-token", testSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s error shows %s: %v", typ, secret, err)
				}
			}
		}
	}
}

func TestNewFromFleet(t *testing.T) {
	f := &fleet.Fleet{
		Alerts: []fleet.Alert{{Type: "webhook", URL: "https://a.example/x"}, {Type: "slack", URL: "https://hooks.slack.com/services/T/B/X"}},
		Sweep:  fleet.Sweep{AlertWebhook: "https://a.example/x"},
	}
	ns, err := New(f, Options{})
	if err != nil || len(ns) != 2 || ns[0].Name() != "webhook" || ns[1].Name() != "slack" {
		t.Fatalf("same URL twice must be one notifier: %v %v", ns, err)
	}
	f.Sweep.AlertWebhook = "https://b.example/y"
	if ns, _ = New(f, Options{}); len(ns) != 3 || ns[2].Name() != "sweep.alert_webhook" {
		t.Fatalf("sweep.alert_webhook is a webhook notifier: %v", ns)
	}
	for _, typ := range fleet.AlertTypes {
		if _, ok := kinds[typ]; !ok {
			t.Errorf("fleet accepts alert type %s, which has no notifier", typ)
		}
	}
	if len(kinds) != len(fleet.AlertTypes) {
		t.Errorf("notifier kinds %v, fleet.AlertTypes %v", Kinds(), fleet.AlertTypes)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
