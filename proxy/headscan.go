package proxy

// headScan finds a complete head in a buffer that grows between calls,
// the way readHead reads one: blank lines before it are skipped, it ends
// at the first blank line. Each byte is looked at once however the head
// trickles in.
type headScan struct {
	pos       int // scanned up to here
	lineStart int // the line being scanned starts here
	start     int // the head starts here (after blank lines)
}

// find returns where the head starts and ends (after its blank line),
// and resets the scan for the bytes after it. Without a complete head it
// returns where one would start. Call reset when the buffer is shifted.
func (s *headScan) find(b []byte) (start, end int, ok bool) {
	for s.pos < len(b) {
		i := indexByte(b[s.pos:], '\n')
		if i < 0 {
			s.pos = len(b)
			break
		}
		i += s.pos
		s.pos = i + 1
		if isBlank(b[s.lineStart : i+1]) {
			if s.lineStart != s.start {
				start, end = s.start, i+1
				*s = headScan{}
				return start, end, true
			}
			s.start = i + 1 // a blank line before the head
		}
		s.lineStart = i + 1
	}
	return s.start, 0, false
}

func (s *headScan) reset() { *s = headScan{} }
