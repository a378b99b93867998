package vmexec

import (
	"os/user"
	"strconv"
	"strings"
	"testing"

	"github.com/initkit/initkit/guest"
)

// TestLookupUser: numbers and the host's names, with and without a
// group; a name the host does not know is an error naming it.
func TestLookupUser(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err) // Debian has it
	}
	uid, _ := strconv.ParseUint(nobody.Uid, 10, 32)
	gid, _ := strconv.ParseUint(nobody.Gid, 10, 32)
	for in, want := range map[string]guest.User{
		"nobody":        {UID: uint32(uid), GID: uint32(gid)},
		nobody.Uid:      {UID: uint32(uid), GID: uint32(gid)},
		"0":             {UID: 0, GID: 0},
		"root:nogroup":  {UID: 0, GID: 65534},
		"4711":          {UID: 4711, GID: 4711}, // unknown here: its own number
		"4711:100":      {UID: 4711, GID: 100},
		"nobody:0":      {UID: uint32(uid), GID: 0},
		"4294967295:12": {UID: 4294967295, GID: 12},
	} {
		got, err := LookupUser(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"no-such-user-here": "--user no-such-user-here: user: unknown user no-such-user-here",
		"0:no-such-group":   "unknown group no-such-group",
		"":                  "--user : user: unknown user",
		"4294967296":        "unknown user 4294967296",
		"-1":                "unknown user -1",
	} {
		if _, err := LookupUser(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
