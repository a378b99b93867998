// Package shell quotes words for a POSIX shell.
package shell

import "strings"

const safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/.,:@+"

// Quote renders args so that a POSIX shell splits them back into the same
// words: words made only of safe characters stay as they are, every other
// word is single-quoted.
func Quote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, safe) == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
