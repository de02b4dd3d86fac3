package remote

import "strconv"

// MaxOutput is how much of each of a command's stdout and stderr Run keeps.
// A command that prints more (a runaway journal, a binary cat by mistake)
// cannot make edgectl hold it all in memory; what is kept ends with
// TruncatedMarker.
const MaxOutput = 1 << 20

// TruncatedMarker ends an output that was cut at MaxOutput.
const TruncatedMarker = "\n[edgectl: output truncated at 1 MiB]\n"

// cappedBuffer keeps the first max bytes written to it and counts the rest.
type cappedBuffer struct {
	max     int
	buf     []byte
	dropped int64
}

func newCapped() *cappedBuffer { return &cappedBuffer{max: MaxOutput} }

// Write never fails, so the command is never blocked or killed by the cap.
func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.max - len(c.buf)
	if room >= len(p) {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		c.buf = append(c.buf, p[:room]...)
	}
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// Bytes is what was kept, with TruncatedMarker when something was dropped.
func (c *cappedBuffer) Bytes() []byte {
	if c.dropped == 0 {
		return c.buf
	}
	return append(c.buf[:len(c.buf):len(c.buf)], TruncatedMarker+"[dropped "+strconv.FormatInt(c.dropped, 10)+" bytes]\n"...)
}
