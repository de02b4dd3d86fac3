// Package notify delivers alerts to people: one [Notifier] per entry of
// fleet.yaml's alerts: list, built by [New] from a table of kinds (a kind is
// one file plus one table entry):
//
//	webhook   a JSON POST of the [Event] (the generic integration)
//	slack     an incoming webhook: {"text": ...}
//	telegram  the Bot API's sendMessage, token and chat_id from the entry
//	dingtalk  a group robot: {"msgtype":"text",...}, signed when a secret is set
//	feishu    a group bot: {"msg_type":"text",...}, signed when a secret is set
//	wecom     a WeCom group robot: {"msgtype":"text",...}
//
// Every notifier retries a failed delivery a bounded number of times with
// doubling backoff (network errors, HTTP 5xx and 429, and the vendors'
// documented rate-limit codes), and judges success by the vendor's own
// answer (DingTalk, Feishu and WeCom answer HTTP 200 with an error code in
// the body). URLs, tokens and secrets are never part of an error: messages
// name the entry ("slack", "webhook#2") instead.
//
// Events are produced elsewhere (package sweep); this package only renders
// and sends them, and prints nothing.
package notify
