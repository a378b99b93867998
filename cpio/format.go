package cpio

import (
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func hex8(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	for len(s) < 8 {
		s = "0" + s
	}
	return s
}

func quoteBytes(b []byte) string { return strconv.Quote(string(b)) }
