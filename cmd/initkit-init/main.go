// Command initkit-init is the initkit init: install it as /init of an
// initramfs (initkit build does, with init = "initkit"). Build it static
// and stripped:
//
//	CGO_ENABLED=0 go build -trimpath -ldflags=-s\ -w ./cmd/initkit-init
//
// See package pid1 for what it does.
package main

import "github.com/initkit/initkit/pid1"

func main() {
	pid1.Main()
}
