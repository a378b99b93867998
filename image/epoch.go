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
		v, _, err := SourceDateEpoch()
		return v, err
	}
	return parseEpoch(s)
}

// SourceDateEpoch reads $SOURCE_DATE_EPOCH, the one place initkit does:
// its value, and whether it is set.
func SourceDateEpoch() (int64, bool, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return 0, false, nil
	}
	v, err := parseEpoch(s)
	if err != nil {
		return 0, false, fmt.Errorf("$SOURCE_DATE_EPOCH: %w", err)
	}
	return v, true, nil
}

func parseEpoch(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > 0xFFFFFFFF {
		return 0, fmt.Errorf("epoch %q: want seconds since 1970 that fit in 32 bits", s)
	}
	return v, nil
}
