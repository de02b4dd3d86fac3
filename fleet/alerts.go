package fleet

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/edgectl/edgectl/yamlfile"
)

// AlertTypes are the kinds of alerts: entries (package notify has one
// notifier per type).
var AlertTypes = []string{"dingtalk", "feishu", "slack", "telegram", "webhook", "wecom"}

// Alert is one destination of alerts: sweep's transitions (an address down
// or up, the origin down behind a live agent, a certificate running out),
// DNS changes made or refused, and DNS drift. URLs, tokens and secrets are
// never printed.
type Alert struct {
	// Type is webhook (a JSON POST of the event), slack (incoming
	// webhook), telegram (bot), dingtalk, feishu or wecom (group robots).
	Type string `yaml:"type"`
	// Name labels the entry in messages about delivery (default: the
	// type, with its position when a type is listed twice).
	Name string `yaml:"name"`
	// URL is the webhook URL (required, except for telegram, where it is
	// the Bot API server: default https://api.telegram.org). Webhook URLs
	// carry their token: keep them in the environment,
	// url: ${EDGECTL_ALERT_WEBHOOK}.
	URL string `yaml:"url"`
	// Token is the telegram bot token; write it as ${VAR}.
	Token string `yaml:"token"`
	// ChatID is the telegram chat (a number, or @channelname).
	ChatID string `yaml:"chat_id"`
	// Secret is the optional signing secret of a dingtalk or feishu robot
	// ("sign" security setting); write it as ${VAR}.
	Secret string `yaml:"secret"`
}

// AlertName is how delivery messages name entry i of alerts:.
func (f *Fleet) AlertName(i int) string {
	a := f.Alerts[i]
	if a.Name != "" {
		return a.Name
	}
	n := 0
	for _, b := range f.Alerts {
		if b.Type == a.Type {
			n++
		}
	}
	if n > 1 {
		return fmt.Sprintf("%s#%d", a.Type, i+1)
	}
	return a.Type
}

func (f *Fleet) validateAlerts(is *issues) {
	for i, a := range f.Alerts {
		p := fmt.Sprintf("alerts[%d]", i)
		if !contains(AlertTypes, a.Type) {
			if a.Type == "" {
				is.add(p, "alert needs a type: %s", strings.Join(AlertTypes, ", "))
			} else {
				is.add(p+".type", "type %q is not one of %s", a.Type, strings.Join(AlertTypes, ", "))
			}
			continue
		}
		switch {
		case a.URL == "" && a.Type != "telegram":
			is.add(p, "a %s alert needs url: (its webhook URL; keep it in the environment: url: ${VAR})", a.Type)
		case a.URL != "":
			if err := checkURL(a.URL, "http", "https"); err != nil {
				// The URL may hold a secret: do not repeat it.
				is.add(p+".url", "url is not an http(s) URL with a host: %v", err)
			}
		}
		if a.Type == "telegram" {
			if a.Token == "" {
				is.add(p, "a telegram alert needs token: ${VAR} (the bot token, from the environment)")
			}
			if a.ChatID == "" {
				is.add(p, "a telegram alert needs chat_id: (the chat's number, or @channelname)")
			}
		} else {
			for _, k := range []struct{ key, val string }{{"token", a.Token}, {"chat_id", a.ChatID}} {
				if k.val != "" {
					is.add(p+"."+k.key, "%s is only used by telegram alerts; remove it", k.key)
				}
			}
		}
		if a.Secret != "" && a.Type != "dingtalk" && a.Type != "feishu" {
			is.add(p+".secret", "secret (a signing key) is only used by dingtalk and feishu alerts; remove it")
		}
	}
}

// literalSecrets reports alerts[].token and alerts[].secret written as
// values instead of ${VAR}: secrets belong in the environment. It looks at
// the document as written, before expansion.
func literalSecrets(name string, root *yaml.Node) []yamlfile.Problem {
	alerts := valueOf(root, "alerts")
	if alerts == nil || alerts.Kind != yaml.SequenceNode {
		return nil
	}
	var out []yamlfile.Problem
	for _, entry := range alerts.Content {
		if entry.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(entry.Content); i += 2 {
			k, v := entry.Content[i].Value, entry.Content[i+1]
			if (k == "token" || k == "secret") && v.Kind == yaml.ScalarNode && v.Value != "" && !strings.Contains(v.Value, "${") {
				out = append(out, yamlfile.Problem{File: name, Line: v.Line, Col: v.Column,
					Msg: k + " is a secret and comes from the environment: write " + k + ": ${VAR} and export VAR"})
			}
		}
	}
	return out
}
