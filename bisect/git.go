package bisect

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	gitcmd "github.com/initkit/initkit/internal/git"
	"github.com/initkit/initkit/internal/shell"
)

// GitBisect is plain git bisect run over good..bad in tree: each step
// builds the commit with initkit kernel build in obj (a failure is git's
// skip, 125) and runs the reproducer with initkit repro, whose exit codes
// git bisect run takes as they are (0 good, 1 bad, 125 skip, 128 abort).
// self is the initkit binary; repro are repro's arguments after
// --kernel OBJ. It returns the first bad commit git names.
func GitBisect(ctx context.Context, self, tree, obj, good, bad string, repro []string, out io.Writer) (string, error) {
	for _, c := range []string{good, bad} {
		if strings.HasPrefix(c, "-") || c == "" {
			return "", fmt.Errorf("%q: not a commit", c)
		}
	}
	build := shell.Quote([]string{self, "kernel", "build", tree, "-O", obj})
	run := shell.Quote(append([]string{self, "repro", "--kernel", obj}, repro...))
	script := build + " >/dev/null 2>&1 || exit 125\nexec " + run
	git := func(args ...string) (string, error) {
		cmd := gitcmd.Command(context.WithoutCancel(ctx), tree, args...)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&b, out), io.MultiWriter(&b, out)
		err := cmd.Run()
		return b.String(), err
	}
	if _, err := git("bisect", "start", bad, good); err != nil {
		return "", err
	}
	defer git("bisect", "reset")
	log, err := git("bisect", "run", "sh", "-c", script)
	if err != nil {
		return "", fmt.Errorf("git bisect run: %w", err)
	}
	m := regexp.MustCompile(`(?m)^([0-9a-f]{40}) is the first bad commit`).FindStringSubmatch(log)
	if m == nil {
		return "", fmt.Errorf("git bisect run named no first bad commit")
	}
	return m[1], nil
}
