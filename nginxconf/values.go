package nginxconf

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// timeUnits are nginx's time suffixes (a month is 30 days, a year 365).
var timeUnits = map[string]time.Duration{
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "M": 30 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
}

// ParseDuration parses an nginx time value: "60" (seconds), "60s",
// "500ms", "1m30s", "1h 30m". ok is false for anything else.
func ParseDuration(s string) (d time.Duration, ok bool) {
	s = strings.ReplaceAll(s, " ", "")
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 32); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, false
		}
		n, _ := strconv.Atoi(s[:i])
		s = s[i:]
		j := 0
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		u, ok := timeUnits[s[:j]]
		if !ok {
			return 0, false
		}
		total += time.Duration(n) * u
		s = s[j:]
	}
	return total, true
}

// ParseSize parses an nginx size: "1024", "8k", "10m", "1g" (either case).
// ok is false for anything else, or a size beyond int64.
func ParseSize(s string) (n int64, ok bool) {
	if s == "" {
		return 0, false
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || strings.HasPrefix(s, "+") || v > math.MaxInt64/mult {
		return 0, false
	}
	return v * mult, true
}
