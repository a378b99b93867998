package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/initkit/initkit/compress"
	"github.com/initkit/initkit/cpio"
	"github.com/initkit/initkit/image"
	"github.com/initkit/initkit/internal/testenv"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"initkit": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		// nodeimage OUT writes a gzip image holding device nodes, which a
		// rootless script cannot make with find | cpio.
		"nodeimage": func() {
			var buf bytes.Buffer
			err := image.WriteSegment(&buf, []image.File{
				{Header: cpio.Header{Name: "dev", Mode: cpio.TypeDir | 0o755}},
				{Header: cpio.Header{Name: "dev/console", Mode: cpio.TypeChar | 0o600, RDevMajor: 5, RDevMinor: 1}},
				{Header: cpio.Header{Name: "dev/vda", Mode: cpio.TypeBlock | 0o660, RDevMajor: 254, GID: 6}},
				{Header: cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755}, Data: []byte("#!/bin/sh\n")},
			}, image.WithCompression(compress.Gzip, compress.WriterOptions{}), image.WithOwners())
			if err == nil {
				err = os.WriteFile(os.Args[1], buf.Bytes(), 0o644)
			}
			if err != nil {
				os.Stderr.WriteString(err.Error() + "\n")
				os.Exit(1)
			}
		},
	})
}

func TestScripts(t *testing.T) {
	fixtures, err := filepath.Abs("../../image/testdata")
	if err != nil {
		t.Fatal(err)
	}
	elfroot, _ := filepath.Abs("../../elfdeps/testdata/sysroot")
	k := testenv.Kernel(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("FIXTURES", fixtures)
			env.Setenv("ELFROOT", elfroot)
			env.Setenv("KMODDIR", k.ModulesDir)
			env.Setenv("KERNEL", k.Image)
			env.Setenv("INITKIT_CACHE", env.WorkDir+"/cache") // runs write their logs here, not under $HOME
			env.Setenv("SOURCE_DATE_EPOCH", "")
			env.Setenv("INITKIT_INIT", testenv.InitBinary(t))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// stubkernel [-arm64] FILE...: a bzImage's header (an arm64
			// Image's), for a dry run.
			"stubkernel": func(ts *testscript.TestScript, neg bool, args []string) {
				arch := "x86_64"
				if len(args) > 0 && args[0] == "-arm64" {
					arch, args = "aarch64", args[1:]
				}
				for _, a := range args {
					ts.Check(testenv.WriteStubKernel(ts.MkAbs(a), arch))
				}
			},
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// TestPrintError: an error names what untrusted input holds (an entry's
// name, a label, a log line): each of its lines is escaped for the
// terminal, and the lines stay lines.
func TestPrintError(t *testing.T) {
	var b bytes.Buffer
	printError(&b, fmt.Errorf("image.img: entry %s: bad\nsecond line", "a\x1b]0;PWNED\x07b"))
	if want := "initkit: image.img: entry a\\x1b]0;PWNED\\x07b: bad\nsecond line\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
