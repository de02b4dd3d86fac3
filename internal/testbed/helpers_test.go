package testbed

import (
	"bytes"
	"context"
	"os/exec"
)

func execOutput(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}
