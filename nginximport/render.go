package nginximport

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// render writes agent.yaml: the header comment (what was not translated,
// the notes) and the translated keys, each with the file:line it came
// from.
func render(m *model, res *Result, opts Options) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v *yaml.Node) { root.Content = append(root.Content, str(key), v) }
	if len(m.listeners) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, l := range m.listeners {
			item := mapping("addr", str(l.addr))
			if l.tls {
				item.Content = append(item.Content, str("tls"), boolean(true))
			}
			item.Content[1].LineComment = "# " + l.from
			seq.Content = append(seq.Content, item)
		}
		add("listen", seq)
	}
	if m.redirect != nil {
		add("tls", mapping("redirect_http", boolean(*m.redirect)))
	}
	if len(m.upstreams) > 0 {
		ups := &yaml.Node{Kind: yaml.MappingNode}
		for _, u := range m.upstreams {
			k := str(u.name)
			k.LineComment = "# " + u.from
			ups.Content = append(ups.Content, k, upstreamNode(u))
		}
		add("upstreams", ups)
	}
	if len(m.routes) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, r := range m.routes {
			item := &yaml.Node{Kind: yaml.MappingNode}
			if r.host != "" {
				item.Content = append(item.Content, str("host"), str(r.host))
			}
			item.Content = append(item.Content, str("path"), str(r.path), str("upstream"), str(r.upstream))
			item.Content[len(item.Content)-1].LineComment = "# " + r.from
			seq.Content = append(seq.Content, item)
		}
		add("routes", seq)
	}
	if len(m.streams) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range m.streams {
			item := mapping("listen", str(s.listen), "upstream", str(s.upstream))
			item.Content[3].LineComment = "# " + s.from
			seq.Content = append(seq.Content, item)
		}
		add("streams", seq)
	}
	if lim := limitsNode(&m.limits); lim != nil {
		add("limits", lim)
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: header(res, opts), Content: []*yaml.Node{root}}
	if len(root.Content) == 0 {
		doc.Content[0] = &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render agent.yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render agent.yaml: %w", err)
	}
	return b.Bytes(), nil
}

func upstreamNode(u *upstreamOut) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	kv := func(k string, v *yaml.Node) { n.Content = append(n.Content, str(k), v) }
	if u.scheme != "" {
		kv("scheme", str(u.scheme))
	}
	if u.serverName != "" {
		kv("server_name", str(u.serverName))
	}
	if u.caFile != "" {
		kv("ca_file", str(u.caFile))
	}
	servers := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range u.servers {
		item := mapping("addr", str(s.addr))
		if s.backup {
			item.Content = append(item.Content, str("backup"), boolean(true))
		}
		if s.weight > 1 {
			item.Content = append(item.Content, str("weight"), integer(int64(s.weight)))
		}
		if s.from != u.from {
			item.Content[1].LineComment = "# " + s.from
		}
		servers.Content = append(servers.Content, item)
	}
	kv("servers", servers)
	if u.policy != "" {
		kv("policy", str(u.policy))
	}
	if u.maxFails != nil {
		kv("max_fails", integer(int64(*u.maxFails)))
		kv("fail_timeout", duration(u.failTO))
	}
	if u.tries > 0 {
		kv("tries", integer(int64(u.tries)))
	}
	if u.keepalive != nil {
		kv("keepalive", integer(int64(*u.keepalive)))
	}
	if u.keepTO > 0 {
		kv("keepalive_timeout", duration(u.keepTO))
	}
	if u.connect > 0 {
		kv("connect_timeout", duration(u.connect))
	}
	if u.response > 0 {
		kv("response_timeout", duration(u.response))
	}
	if u.read > 0 {
		kv("read_timeout", duration(u.read))
	}
	return n
}

func limitsNode(l *limitsOut) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	kv := func(k string, v *yaml.Node, from string) {
		v.LineComment = "# " + from
		n.Content = append(n.Content, str(k), v)
	}
	if l.header > 0 {
		kv("header_timeout", duration(l.header), l.headerFrom)
	}
	if l.body > 0 {
		kv("body_timeout", duration(l.body), l.bodyFrom)
	}
	if l.send > 0 {
		kv("send_timeout", duration(l.send), l.sendFrom)
	}
	if l.idle > 0 {
		kv("idle_timeout", duration(l.idle), l.idleFrom)
	}
	if l.maxBody != nil {
		kv("max_body", integer(*l.maxBody), l.maxBodyFrom)
	}
	if len(n.Content) == 0 {
		return nil
	}
	return n
}

// header is the comment at the top of agent.yaml.
func header(res *Result, opts Options) string {
	var b strings.Builder
	src := opts.Source
	if src == "" {
		src = "nginx -T"
	}
	fmt.Fprintf(&b, "agent.yaml translated from %s by edgectl import nginx.\n", oneLine(src))
	b.WriteString("Review it, then run the agent with it or put it under agent: in fleet.yaml.\n")
	b.WriteString("Each key says in a comment the file:line of nginx it comes from.\n\n")
	imp, cos := res.Count(Important), res.Count(Cosmetic)
	if imp+cos == 0 {
		b.WriteString("Everything was translated.\n")
	} else {
		fmt.Fprintf(&b, "Not translated: %d important, %d cosmetic.\n", imp, cos)
		for _, it := range res.Untranslated {
			fmt.Fprintf(&b, "  %-9s %s: %s\n", it.Importance, it.Where(), oneLine(it.Directive))
			fmt.Fprintf(&b, "            %s\n", oneLine(it.Reason))
		}
	}
	if len(res.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range res.Notes {
			fmt.Fprintf(&b, "  %s: %s\n", n.Where(), oneLine(n.Text))
		}
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		lines = append(lines, strings.TrimRight("# "+l, " "))
	}
	return strings.Join(lines, "\n")
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func boolean(v bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
}

func integer(v int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
}

// duration writes d in its largest whole unit: 75s, 5m, 2h, 500ms.
func duration(d time.Duration) *yaml.Node {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d%u.unit == 0 {
			return str(strconv.FormatInt(int64(d/u.unit), 10) + u.name)
		}
	}
	return str(d.String())
}

func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Content = append(n.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}
