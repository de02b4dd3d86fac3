package agentconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/edgectl/edgectl/yamlfile"
)

// Load reads, defaults and validates the agent configuration at path. Every
// problem is reported in one *yamlfile.Error with file:line:col positions.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agent config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for bytes already read; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	root, err := yamlfile.Decode(name, data, &c)
	if err != nil {
		return nil, err
	}
	c.applyDefaults(func(path string) bool { return yamlfile.Has(root, path) })
	if issues := c.Validate(); len(issues) > 0 {
		out := &yamlfile.Error{}
		for _, is := range issues {
			var line, col int
			if is.Key {
				line, col = yamlfile.KeyAt(root, is.Path)
			} else {
				line, col = yamlfile.At(root, is.Path)
			}
			out.Problems = append(out.Problems, yamlfile.Problem{File: name, Line: line, Col: col, Msg: is.Msg})
		}
		out.Sort()
		return nil, out
	}
	sum := sha256.Sum256(data)
	c.SHA256 = hex.EncodeToString(sum[:])
	return &c, nil
}
