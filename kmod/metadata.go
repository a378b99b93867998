package kmod

import (
	"bytes"
	"fmt"
)

// Metadata returns the modules.dep and modules.alias of a set of shipped
// modules, in the format depmod writes (kmod's libkmod reads both, and so
// does the initkit init). shipped maps each module's name to its path
// relative to the modules directory as shipped, which may differ from
// Module.Path (a module decompressed on the way). Dependencies outside the
// set are left out: they are built in, or were not asked for.
func Metadata(mods []*Module, shipped map[string]string) (dep, alias []byte) {
	var d, a bytes.Buffer
	for _, m := range mods {
		fmt.Fprintf(&d, "%s:", shipped[m.Name])
		for _, dd := range m.Depends {
			if p, ok := shipped[dd]; ok {
				fmt.Fprintf(&d, " %s", p)
			}
		}
		d.WriteByte('\n')
		for _, al := range m.Aliases {
			fmt.Fprintf(&a, "alias %s %s\n", al, m.Name)
		}
	}
	return d.Bytes(), a.Bytes()
}
