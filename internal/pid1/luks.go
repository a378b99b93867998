package pid1

import (
	"errors"
	"fmt"
	"os"
	"strings"
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
		return errors.New(d.Path + " is LUKS but the image has no cryptsetup (add it: files = [\"/usr/sbin/cryptsetup\"], with the dm_crypt module)")
	}
	os.MkdirAll("/run/cryptsetup", 0o700)
	args := []string{"open", "--type", "luks", d.Path, name}
	if key := in.cmd.LUKSKey; key != "" {
		in.tried = append(in.tried, "cryptsetup open "+d.Path+" with key file "+key)
		if err := in.cryptsetup(bin, append(args, "--key-file", key), ""); err != nil {
			return fmt.Errorf("unlocking %s with %s: %w", d.Path, key, err)
		}
		return nil
	}
	return in.askPassphrase(d, name, func(pass string) error {
		// Without --key-file and with stdin not a terminal, cryptsetup
		// reads the passphrase up to the first newline.
		return in.cryptsetup(bin, args, pass+"\n")
	})
}

// askPassphrase asks for d's passphrase until open takes one: on the
// console, three tries, and, when the remote unlock runs, over SSH too,
// with no limit (a machine that waits for its owner to unlock it
// remotely should not give up and sit in a rescue shell).
func (in *initProc) askPassphrase(d *blockDev, name string, open func(string) error) error {
	q, err := newAsk("Passphrase for " + d.Path + " (" + name + ")")
	if err != nil {
		return err
	}
	defer q.close()
	remote := in.remoteUnlock()
	hint := ""
	if remote {
		if err := q.serve(); err != nil {
			in.logf("remote unlock: %v", err)
			remote = false
		} else {
			hint = " (or over ssh)"
		}
	}
	go q.console(hint)
	for fails := 0; ; {
		a := <-q.answers
		if a.err != nil {
			a.reply <- false
			if remote {
				continue // the console is gone; SSH may still answer
			}
			return fmt.Errorf("reading a passphrase for %s: %w", d.Path, a.err)
		}
		err := open(a.pass)
		if a.verdict != nil {
			a.verdict(err == nil)
		}
		// What the boot says of an answer comes before the reply, which
		// lets the console prompt again: the prompt follows the message.
		if err == nil {
			in.logf("%s unlocked with a passphrase from the %s", d.Path, a.from)
			a.reply <- true
			return nil
		}
		fails++
		limit := " of 3"
		if remote {
			limit = ""
		}
		in.logf("unlocking %s failed (try %d%s; a passphrase from the %s): %v", d.Path, fails, limit, a.from, err)
		if !remote && fails == 3 {
			// No reply: the question ends (q.close), and the console
			// asks no more.
			in.tried = append(in.tried, "cryptsetup open "+d.Path+": 3 passphrases")
			return errors.New("could not unlock " + d.Path)
		}
		a.reply <- false
	}
}

func (in *initProc) cryptsetup(bin string, args []string, stdin string) error {
	in.debugf("running %s %s", bin, strings.Join(args, " "))
	return runTool(bin, args, stdin, os.Stdout, os.Stderr)
}
