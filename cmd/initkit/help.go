package main

import (
	"embed"
	"strings"

	"github.com/initkit/initkit/kconfig"
	"github.com/initkit/initkit/vmexec"
)

// The commands' long help: one text file each, which the README's
// tables follow.
//
//go:embed help/*.txt
var helpFiles embed.FS

// help returns the long help of a command (its path, dash-joined), with
// what the code decides filled in: {{kernel}} is how every command that
// boots picks its kernel.
func help(name string) string {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic(err) // a help file named in the code and not embedded
	}
	kernel, _ := helpFiles.ReadFile("help/kernel.txt")
	return strings.NewReplacer("{{kernel}}", "\n"+strings.TrimSpace(string(kernel)), "{{cmdline}}", vmexec.Cmdline,
		"{{purposes}}", strings.Join(kconfig.Names(), " ")).Replace(strings.TrimRight(string(b), "\n"))
}
