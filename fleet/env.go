package fleet

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/edgectl/edgectl/yamlfile"
)

// expandTree replaces ${VAR} and ${VAR:-default} in every string value
// below n (mapping keys are left alone) using env, in place, and returns a
// problem for each reference it cannot resolve. A value that is only
// ${VAR:-} with VAR unset or empty is removed, key and all (or the list
// item), so the key is unset and its default applies. Aliases are not
// followed: the anchored node they point to is expanded where it is
// defined.
func expandTree(name string, n *yaml.Node, env func(string) (string, bool)) []yamlfile.Problem {
	if n == nil {
		return nil
	}
	var out []yamlfile.Problem
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = append(out, expandTree(name, c, env)...)
		}
	case yaml.SequenceNode:
		kept := n.Content[:0]
		for _, c := range n.Content {
			if unsetByDefault(c, env) {
				continue
			}
			out = append(out, expandTree(name, c, env)...)
			kept = append(kept, c)
		}
		n.Content = kept
	case yaml.MappingNode:
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if unsetByDefault(v, env) {
				continue
			}
			out = append(out, expandTree(name, v, env)...)
			kept = append(kept, k, v)
		}
		n.Content = kept
	case yaml.ScalarNode:
		if n.ShortTag() != "!!str" || !strings.Contains(n.Value, "$") {
			return nil
		}
		v, err := expand(n.Value, env)
		if err != nil {
			return []yamlfile.Problem{{File: name, Line: n.Line, Col: n.Column, Msg: err.Error()}}
		}
		n.Value = v
	}
	return out
}

// unsetByDefault reports whether n is a string value that is exactly
// ${NAME:-} with NAME unset or empty: an optional key left out. Its value
// is cleared too, for aliases that still point at it.
func unsetByDefault(n *yaml.Node, env func(string) (string, bool)) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return false
	}
	v, ok := strings.CutPrefix(n.Value, "${")
	if !ok {
		return false
	}
	v, ok = strings.CutSuffix(v, ":-}")
	if !ok || !validVarName(v) {
		return false
	}
	if val, set := env(v); set && val != "" {
		return false
	}
	n.Value = ""
	return true
}

// expand replaces ${NAME} in s with env(NAME), ${NAME:-default} with
// env(NAME) or, when NAME is unset or empty, with default (taken as
// written), and $$ with $. A $ followed by anything else is kept as it is.
// A reference to an unset variable without a default, an unclosed ${ or a
// name that is not a variable name is an error.
func expand(s string, env func(string) (string, bool)) (string, error) {
	var b strings.Builder
	var missing []string
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("%q has ${ without a closing }; write $$ for a literal $", s)
			}
			ref := s[i+2 : i+2+end]
			v, def, hasDef := strings.Cut(ref, ":-")
			if !validVarName(v) {
				return "", fmt.Errorf("${%s} is not an environment variable reference (${NAME} or ${NAME:-default}; letters, digits and _, not starting with a digit); write $$ for a literal $", ref)
			}
			if strings.Contains(def, "${") {
				return "", fmt.Errorf("${%s}: a default cannot hold another ${...}; write the default itself", ref)
			}
			val, ok := env(v)
			switch {
			case hasDef && val == "":
				val = def
			case !ok:
				missing = append(missing, v)
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	switch len(missing) {
	case 0:
		return b.String(), nil
	case 1:
		return "", fmt.Errorf("environment variable %s is not set; export it, give a default with ${%s:-default}, or edit the value (write $$ for a literal $)", missing[0], missing[0])
	default:
		return "", fmt.Errorf("environment variables %s are not set; export them or edit the value", strings.Join(missing, ", "))
	}
}

func validVarName(v string) bool {
	if v == "" || v[0] >= '0' && v[0] <= '9' {
		return false
	}
	for _, c := range []byte(v) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
