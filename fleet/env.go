package fleet

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/edgectl/edgectl/yamlfile"
)

// expandTree replaces ${VAR} in every string value below n (mapping keys
// are left alone) using env, in place, and returns a problem for each
// reference it cannot resolve. Aliases are not followed: the anchored node
// they point to is expanded where it is defined.
func expandTree(name string, n *yaml.Node, env func(string) (string, bool)) []yamlfile.Problem {
	if n == nil {
		return nil
	}
	var out []yamlfile.Problem
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, expandTree(name, c, env)...)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			out = append(out, expandTree(name, n.Content[i], env)...)
		}
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

// expand replaces ${NAME} in s with env(NAME) and $$ with $. A $ followed by
// anything else is kept as it is. A reference to an unset variable, an
// unclosed ${ or a name that is not a variable name is an error.
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
			v := s[i+2 : i+2+end]
			if !validVarName(v) {
				return "", fmt.Errorf("${%s} is not an environment variable reference (letters, digits and _, not starting with a digit); write $$ for a literal $", v)
			}
			val, ok := env(v)
			if !ok {
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
		return "", fmt.Errorf("environment variable %s is not set; export it or edit the value (write $$ for a literal $)", missing[0])
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
