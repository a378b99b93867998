package image

import (
	"fmt"
	"os"
	"strconv"
)

// Epoch returns the mtime a reproducible image gives every entry: s in
// seconds, else $SOURCE_DATE_EPOCH (reproducible-builds.org), else 0. It
// must fit the 32 bits of a newc header's mtime.
func Epoch(s string) (int64, error) {
	if s == "" {
		s = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > 0xFFFFFFFF {
		return 0, fmt.Errorf("epoch %q: want seconds since 1970 that fit in 32 bits", s)
	}
	return v, nil
}
