package oops

import (
	"strings"
)

// MaxTitle bounds a title, as syzkaller bounds its own.
const MaxTitle = 120

// Corrupted is the function a title names when its report has no frame
// that may be guilty: cut short, interleaved, or a stack of
// infrastructure only.
const Corrupted = "corrupted"

var (
	accessRE  = lazy(`^(Read|Write) (?:of size|at addr)`)
	kasanNull = lazy(`^KASAN: null-ptr-deref in range`)
	// heldAtRE is a lock in lockdep's list of held locks: " #0:
	// ffffffff826155f8 (lock_me_up){+.+.}-{2:2}, at: FUNC+0x10/0x12".
	heldAtRE = lazy(`^#\d+: [0-9a-f]+ \(.*, at: ([\w.]+)\+0x`)
	// What a title's text from the log has that differs from crash to
	// crash of one bug (syzkaller's normalisation): source lines,
	// addresses, numbers, the fuzzer's process numbers.
	lineNumRE  = lazy(`(\.[chS]):\d+(?::\d+)?`)
	addrRE     = lazy(`\b(?:0x[0-9a-fA-F]+|[0-9a-f]{8,16})\b`)
	numRE      = lazy(`\b\d+\b`)
	executorRE = lazy(`\bsyz-executor[.:]?\d*`)
	spacesRE   = lazy(`\s{2,}`)
)

// normalize makes a piece of log text the same for every crash of one
// bug.
func normalize(s string) string {
	s = executorRE.ReplaceAllString(s, "syz-executor")
	s = lineNumRE.ReplaceAllString(s, "${1}:LINE")
	s = addrRE.ReplaceAllString(s, "ADDR")
	return numRE.ReplaceAllString(s, "NUM")
}

// finish gives a report read whole its identity: the title, the type,
// the guilty frame and whether it is corrupted.
func (r *Report) finish() {
	k := r.kind
	if k == nil {
		return
	}
	var fn string
	if strings.Contains(k.title, "{func}") {
		if g := r.guilty(k.rule); g != nil {
			r.Guilty = g
			fn = callName(g.Func)
		} else if r.heldAt != "" && k.typ == TypeLockdep {
			// A lock held when returning to user space, or still
			// held at exit, is reported with no stack: where the lock
			// was taken is the report's one frame.
			r.Guilty = &Frame{Func: r.heldAt}
			fn = callName(r.heldAt)
		} else {
			fn = Corrupted
			r.Corrupted = r.Corrupted || len(r.stack()) == 0
		}
	}
	title := strings.ReplaceAll(k.title, "{func}", fn)
	title = strings.ReplaceAll(title, "{access}", r.access)
	for i := len(r.groups) - 1; i >= 1; i-- { // {10} before {1}
		g := strings.TrimSpace(r.groups[i])
		if isFunc(k, i) {
			g = callName(strings.SplitN(g, "+", 2)[0])
		} else {
			g = normalize(g)
		}
		title = strings.ReplaceAll(title, "{"+itoa(i)+"}", g)
	}
	title = strings.TrimSpace(spacesRE.ReplaceAllString(title, " "))
	if len(title) > MaxTitle {
		title = strings.TrimSpace(title[:MaxTitle])
	}
	r.Title = title
	r.Type = k.typ
	switch {
	case k.typ == "kasan" || k.typ == "kfence":
		for _, t := range kasanTypes {
			if len(r.groups) > 1 && t.re.MatchString(r.groups[1]) {
				r.Type = t.typ
				break
			}
		}
	case r.nullRange:
		r.Type = TypeNullDeref // a GPF KASAN names a NULL dereference
	}
}

// isFunc reports whether group i of kind k is a function's name (KCSAN's
// two racing functions, the stack protector's): cut at its offset, not
// normalised.
func isFunc(k *kind, i int) bool {
	return k.name == "KCSAN" && i >= 2 || strings.Contains(k.title, "corrupted in: {1}")
}

func itoa(i int) string { return string(rune('0' + i)) }
