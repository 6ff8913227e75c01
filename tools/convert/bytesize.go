package main

import (
	"strconv"
	"strings"
)

// parseBytes parses a memory size for --max-memory: a number of bytes with an optional binary
// unit K, M, G or T (also KiB, MB, ...: all powers of 1024), e.g. "512M", "1.5G", "8GiB".
func parseBytes(flagName, s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*float64(mult) > 1<<62 {
		return 0, usagef("bad %s %q (want a size such as 512M, 8G or 0 for the memory available)", flagName, s)
	}
	return int64(v * float64(mult)), nil
}
