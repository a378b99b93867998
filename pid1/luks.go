package pid1

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// unlockAll opens the volumes named by rd.luks.uuid and rd.luks.name.
func (in *initProc) unlockAll() error {
	if in.cmd.NoLUKS {
		return nil
	}
	for _, v := range in.cmd.LUKS {
		if _, err := os.Stat("/dev/mapper/" + v.Name); err == nil {
			continue // opened on an earlier try
		}
		spec := "UUID=" + v.UUID
		d, err := in.waitFor(spec, func(d *blockDev) bool {
			return d.FS.Type == "crypto_LUKS" && strings.EqualFold(d.FS.UUID, v.UUID)
		})
		if err != nil {
			return fmt.Errorf("LUKS volume %s: %w", v.UUID, err)
		}
		if err := in.openLUKS(d, v.Name); err != nil {
			return err
		}
	}
	return nil
}

// cryptsetupPaths are where an image may hold cryptsetup.
var cryptsetupPaths = []string{"/sbin/cryptsetup", "/usr/sbin/cryptsetup", "/bin/cryptsetup", "/usr/bin/cryptsetup"}

// openLUKS maps d as /dev/mapper/NAME by running the image's cryptsetup,
// with rd.luks.key's key file or a passphrase typed on the console.
func (in *initProc) openLUKS(d *blockDev, name string) error {
	if _, err := os.Stat("/dev/mapper/" + name); err == nil {
		return nil
	}
	bin := firstPresent(cryptsetupPaths)
	if bin == "" {
		return fmt.Errorf("%s is LUKS but the image has no cryptsetup (add it: files = [\"/usr/sbin/cryptsetup\"], with the dm_crypt module)", d.Path)
	}
	os.MkdirAll("/run/cryptsetup", 0o700)
	args := []string{"open", "--type", "luks", d.Path, name}
	if key := in.cmd.LUKSKey; key != "" {
		in.tried = append(in.tried, fmt.Sprintf("cryptsetup open %s with key file %s", d.Path, key))
		if err := in.cryptsetup(bin, append(args, "--key-file", key), ""); err != nil {
			return fmt.Errorf("unlocking %s with %s: %w", d.Path, key, err)
		}
		return nil
	}
	for try := 1; try <= 3; try++ {
		pass, err := readSecret(fmt.Sprintf("Passphrase for %s (%s): ", d.Path, name))
		if err != nil {
			return fmt.Errorf("reading a passphrase for %s: %w", d.Path, err)
		}
		// Without --key-file and with stdin not a terminal, cryptsetup
		// reads the passphrase up to the first newline.
		if err = in.cryptsetup(bin, args, pass+"\n"); err == nil {
			return nil
		}
		in.logf("unlocking %s failed (try %d of 3): %v", d.Path, try, err)
	}
	in.tried = append(in.tried, fmt.Sprintf("cryptsetup open %s: 3 passphrases", d.Path))
	return fmt.Errorf("could not unlock %s", d.Path)
}

func (in *initProc) cryptsetup(bin string, args []string, stdin string) error {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	in.debugf("running %s %s", bin, strings.Join(args, " "))
	return cmd.Run()
}

// readSecret prompts on the console and reads one line with echo off.
// It reads a byte at a time, so that nothing typed after the line is
// taken from the rescue shell that may come next. Echo goes off before
// the prompt is printed: the tty echoes what arrives while ECHO is set,
// and a user (or a script) answers as soon as the prompt shows.
func readSecret(prompt string) (string, error) {
	if t, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		quiet := *t
		quiet.Lflag &^= unix.ECHO
		quiet.Lflag |= unix.ICANON
		unix.IoctlSetTermios(0, unix.TCSETS, &quiet)
		defer unix.IoctlSetTermios(0, unix.TCSETS, t)
	}
	fmt.Fprint(os.Stdout, prompt)
	defer fmt.Fprintln(os.Stdout)
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := os.Stdin.Read(b)
		if n == 1 {
			if b[0] == '\n' || b[0] == '\r' {
				return string(line), nil
			}
			line = append(line, b[0])
		}
		if err != nil {
			return "", err
		}
	}
}
