package fleet

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"

	"github.com/edgectl/edgectl/yamlfile"
)

// Load reads, expands, defaults and validates the fleet file at path, with
// ${VAR} taken from the process environment. Every problem is reported in
// one *yamlfile.Error with file:line:col positions.
func Load(path string) (*Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fleet file: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse is Load for bytes already read; name is used in messages and env
// looks up environment variables (os.LookupEnv when nil), both for ${VAR}
// and for the $HOME that a leading ~ stands for.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Fleet, error) {
	if env == nil {
		env = os.LookupEnv
	}
	// First pass: syntax, unknown keys and types, on the file as written,
	// so positions are exact and ${VAR} in a number is reported as such.
	var f Fleet
	root, err := yamlfile.Decode(name, data, &f)
	if err != nil {
		return nil, improve(err, data)
	}
	out := &yamlfile.Error{}
	out.Problems = append(literalSecrets(name, root), expandTree(name, root, env)...)
	// Second pass: the same tree with variables expanded. Only string
	// values changed, so it decodes as the first pass did.
	f = Fleet{}
	if len(root.Content) > 0 {
		if err := root.Load(&f, yaml.WithKnownFields()); err != nil {
			line, col := yamlfile.At(root, "")
			return nil, &yamlfile.Error{Problems: []yamlfile.Problem{{File: name, Line: line, Col: col, Msg: err.Error()}}}
		}
	}
	// A value whose variable is missing was reported; what it says about
	// the unexpanded value is not worth a second message.
	reported := map[pos]bool{}
	for _, p := range out.Problems {
		reported[pos{p.Line, p.Col}] = true
	}
	var agentProblems []yamlfile.Problem
	f.Agent, f.AgentYAML, agentProblems = parseAgent(name, root)
	for _, p := range agentProblems {
		if !reported[pos{p.Line, p.Col}] {
			out.Problems = append(out.Problems, p)
		}
	}
	var w written
	if len(root.Content) > 0 {
		_ = root.Load(&w) // the document decoded strictly above
	}
	f.applyDefaults(w.has)
	home, haveHome := env("HOME")
	issues := append(f.expandHome(home, haveHome), f.validate()...)
	for _, is := range issues {
		var line, col int
		if is.Key {
			line, col = yamlfile.KeyAt(root, is.Path)
		} else {
			line, col = yamlfile.At(root, is.Path)
		}
		if reported[pos{line, col}] && !is.Key {
			continue
		}
		out.Problems = append(out.Problems, yamlfile.Problem{File: name, Line: line, Col: col, Msg: is.Msg})
	}
	if len(out.Problems) > 0 {
		out.Sort()
		return nil, out
	}
	return &f, nil
}

// written records which of the keys whose default depends on presence
// were written with a non-null value. Decoding (rather than looking up
// paths) sees through aliases and merge keys.
type written struct {
	SSH struct {
		Port         *int    `yaml:"port"`
		IdentityFile *string `yaml:"identity_file"`
	} `yaml:"ssh"`
	Rollout struct {
		Batch         *int           `yaml:"batch"`
		HealthTimeout *time.Duration `yaml:"health_timeout"`
		Drain         *time.Duration `yaml:"drain"`
	} `yaml:"rollout"`
	Backend struct {
		StopTimeout *time.Duration `yaml:"stop_timeout"`
		HoldTimeout *time.Duration `yaml:"hold_timeout"`
	} `yaml:"backend"`
	Sweep struct {
		Timeout      *time.Duration `yaml:"timeout"`
		FailAfter    *int           `yaml:"fail_after"`
		RecoverAfter *int           `yaml:"recover_after"`
	} `yaml:"sweep"`
	DNS struct {
		MinHealthy *int `yaml:"min_healthy"`
		TTL        *int `yaml:"ttl"`
	} `yaml:"dns"`
}

// has reports whether the dotted path was written.
func (w *written) has(path string) bool {
	switch path {
	case "ssh.port":
		return w.SSH.Port != nil
	case "ssh.identity_file":
		return w.SSH.IdentityFile != nil
	case "rollout.batch":
		return w.Rollout.Batch != nil
	case "rollout.health_timeout":
		return w.Rollout.HealthTimeout != nil
	case "rollout.drain":
		return w.Rollout.Drain != nil
	case "backend.stop_timeout":
		return w.Backend.StopTimeout != nil
	case "backend.hold_timeout":
		return w.Backend.HoldTimeout != nil
	case "sweep.timeout":
		return w.Sweep.Timeout != nil
	case "sweep.fail_after":
		return w.Sweep.FailAfter != nil
	case "sweep.recover_after":
		return w.Sweep.RecoverAfter != nil
	case "dns.min_healthy":
		return w.DNS.MinHealthy != nil
	case "dns.ttl":
		return w.DNS.TTL != nil
	}
	panic("fleet: presence of " + path + " is not recorded")
}

// improve adds what the yaml library leaves out of decoding errors: a
// position for characters YAML does not allow (invalid UTF-8, control
// characters), and, for a type error on a value holding ${VAR}, that
// variables are expanded only in strings, so numbers and durations must be
// written out.
func improve(err error, data []byte) error {
	var ye *yamlfile.Error
	if !errors.As(err, &ye) {
		return err
	}
	for i, p := range ye.Problems {
		if p.Line == 0 {
			ye.Problems[i].Line, ye.Problems[i].Col = badChar(data)
		}
		if strings.Contains(p.Msg, `"${`) {
			ye.Problems[i].Msg += "; ${VAR} is expanded only in string values, so write the value itself here"
		}
	}
	ye.Sort()
	return err
}

// badChar is the line and column (1-based, in characters) of the first
// character YAML does not allow, or 0, 0.
func badChar(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return 0, 0
}
