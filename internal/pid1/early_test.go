package pid1

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A panic in an early stage is reported like its failure: PID 1 goes on.
func TestEarlyRecoversPanics(t *testing.T) {
	var out bytes.Buffer
	in := &initProc{start: time.Now(), out: &out}
	in.early("gdb", func() error {
		var m map[string]int
		//lint:ignore SA5000 the panic is what the test provokes
		m["x"] = 1 // a nil map: panics
		return nil
	})
	if !strings.Contains(out.String(), "initkit: gdb: internal error: assignment to entry in nil map") {
		t.Errorf("log: %q", out.String())
	}
	ran := false
	in.early("modules", func() error { ran = true; return nil })
	if !ran || len(in.stages) != 2 {
		t.Errorf("the stages after a panic: ran %v, %d timed", ran, len(in.stages))
	}
}

func TestShebang(t *testing.T) {
	for in, want := range map[string]string{
		"#!/bin/sh\necho":          "/bin/sh",
		"#! /bin/busybox sh -e\nx": "/bin/busybox|sh -e",
		"#!/usr/bin/env bash":      "/usr/bin/env|bash",
		"\x7fELF":                  "",
		"#!\n":                     "",
	} {
		got, ok := shebang([]byte(in))
		if strings.Join(got, "|") != want || ok != (want != "") {
			t.Errorf("shebang(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
