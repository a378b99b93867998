// Package git runs the git command on trees that may come from others:
// no system configuration read, no prompt, none of the repository's
// hooks or fsmonitor run, errors with git's own words.
package git

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Command is git -C dir args, with the environment every call uses.
func Command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	// A repository's own .git/config and hooks come with a tree from
	// others: its post-checkout hook would run on worktree add, checkout
	// and bisect, its core.fsmonitor on any command that reads the index.
	// A -c setting wins over the repository's.
	safe := []string{"-C", dir, "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"}
	cmd := exec.CommandContext(ctx, "git", append(safe, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	return cmd
}

// Lines runs git and returns its output's non-empty lines, or an error
// with what git said on stderr.
func Lines(ctx context.Context, dir string, args ...string) ([]string, error) {
	cmd := Command(ctx, dir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}
