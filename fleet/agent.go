package fleet

import (
	"errors"

	"go.yaml.in/yaml/v4"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/yamlfile"
)

// maxAgentNodes bounds the copy of the agent: section, in which aliases to
// anchors defined elsewhere in the file are written out in full.
const maxAgentNodes = 100000

type pos struct{ line, col int }

// parseAgent defaults and validates the agent: section with agentconfig, so
// agent.yaml keys behave exactly as in agent.yaml. agentconfig reads a
// document of its own, so the section is written out as one, and the
// positions of its problems are mapped back onto fleet.yaml through the
// twin trees (the section and its re-read copy have the same shape).
func parseAgent(name string, root *yaml.Node) (agentconfig.Config, []byte, []yamlfile.Problem) {
	n := valueOf(root, "agent")
	if n == nil {
		c, err := agentconfig.Parse(name, nil)
		if err != nil {
			return agentconfig.Config{}, nil, problemsOf(name, err, func(pos) pos { return pos{} })
		}
		return *c, nil, nil
	}
	keyLine, keyCol := yamlfile.KeyAt(root, "agent")
	fallback := func(pos) pos { return pos{keyLine, keyCol} }
	inside := map[*yaml.Node]bool{}
	collect(n, inside)
	budget := maxAgentNodes
	section := detach(n, inside, false, &budget)
	if budget < 0 {
		return agentconfig.Config{}, nil, []yamlfile.Problem{{File: name, Line: keyLine, Col: keyCol,
			Msg: "agent: expands to too many values through aliases; write the section out"}}
	}
	data, err := yaml.Dump(section)
	if err != nil {
		return agentconfig.Config{}, nil, []yamlfile.Problem{{File: name, Line: keyLine, Col: keyCol,
			Msg: "agent: cannot be read as agent.yaml: " + err.Error()}}
	}
	c, err := agentconfig.Parse(name, data)
	if err == nil {
		return *c, data, nil
	}
	var copyRoot yaml.Node
	if yaml.Load(data, &copyRoot) != nil || len(copyRoot.Content) == 0 {
		return agentconfig.Config{}, nil, problemsOf(name, err, fallback)
	}
	at := map[pos]pos{}
	twin(copyRoot.Content[0], section, at)
	return agentconfig.Config{}, nil, problemsOf(name, err, func(p pos) pos {
		if o, ok := at[p]; ok && o.line > 0 {
			return o
		}
		return fallback(p)
	})
}

// problemsOf turns agentconfig's error into problems in fleet.yaml, with
// positions translated by where.
func problemsOf(name string, err error, where func(pos) pos) []yamlfile.Problem {
	var ye *yamlfile.Error
	if !errors.As(err, &ye) {
		p := where(pos{})
		return []yamlfile.Problem{{File: name, Line: p.line, Col: p.col, Msg: "agent: " + err.Error()}}
	}
	out := make([]yamlfile.Problem, 0, len(ye.Problems))
	for _, pr := range ye.Problems {
		p := where(pos{pr.Line, pr.Col})
		out = append(out, yamlfile.Problem{File: name, Line: p.line, Col: p.col, Msg: pr.Msg})
	}
	return out
}

// valueOf returns the value of key in the document's top-level mapping.
func valueOf(root *yaml.Node, key string) *yaml.Node {
	if root == nil || !yamlfile.Has(root, key) {
		return nil
	}
	n := root
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// collect adds n and every node below it, without following aliases.
func collect(n *yaml.Node, set map[*yaml.Node]bool) {
	set[n] = true
	for _, c := range n.Content {
		collect(c, set)
	}
}

// detach copies n without comments. An alias to an anchor outside the
// section (inside reports what is in it) is replaced by a copy of the
// anchored value, since the section is written out on its own; outside
// copies carry no anchors. budget counts down the nodes copied.
func detach(n *yaml.Node, inside map[*yaml.Node]bool, outside bool, budget *int) *yaml.Node {
	*budget--
	if *budget < 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil && (outside || !inside[n.Alias]) {
		c := detach(n.Alias, inside, true, budget)
		c.Line, c.Column = n.Line, n.Column // point at the alias, not the anchor
		return c
	}
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	if outside {
		c.Anchor = ""
	}
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = detach(k, inside, outside, budget)
	}
	return &c
}

// twin records, for each node of the re-read copy, the position of the
// same node in fleet.yaml. Where nodes share a position, the outermost
// wins, so an error about a flow mapping points at its opening brace.
func twin(cp, orig *yaml.Node, at map[pos]pos) {
	if _, seen := at[pos{cp.Line, cp.Column}]; !seen {
		at[pos{cp.Line, cp.Column}] = pos{orig.Line, orig.Column}
	}
	if cp.Kind != orig.Kind || len(cp.Content) != len(orig.Content) {
		return
	}
	for i := range cp.Content {
		twin(cp.Content[i], orig.Content[i], at)
	}
}
