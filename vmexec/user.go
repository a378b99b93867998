package vmexec

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"github.com/initkit/initkit/guest"
)

// LookupUser reads who a command runs as, as initkit exec --user takes
// it: USER[:GROUP], each a number or a name the host knows (its
// /etc/passwd and /etc/group, where go test's user is). Without a group,
// the user's primary group; a number the host does not know takes the
// group of the same number.
func LookupUser(s string) (guest.User, error) {
	name, group, hasGroup := strings.Cut(s, ":")
	uid, gid, err := lookupUser(name)
	if err == nil && hasGroup {
		gid, err = lookupGroup(group)
	}
	if err != nil {
		return guest.User{}, fmt.Errorf("--user %s: %w", s, err)
	}
	return guest.User{UID: uid, GID: gid}, nil
}

func lookupUser(s string) (uid, gid uint32, err error) {
	var u *user.User
	if n, nerr := id(s); nerr != nil {
		if u, err = user.Lookup(s); err != nil {
			return 0, 0, err
		}
	} else if u, err = user.LookupId(s); err != nil {
		return n, n, nil // a number the host does not know
	}
	if uid, err = id(u.Uid); err == nil {
		gid, err = id(u.Gid)
	}
	return uid, gid, err
}

func lookupGroup(s string) (uint32, error) {
	if n, err := id(s); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, err
	}
	return id(g.Gid)
}

// id is a user or group ID, a decimal number below 2^32.
func id(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}
