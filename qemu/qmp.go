package qemu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmpCommand is one QMP command with its arguments.
type qmpCommand struct {
	Execute   string         `json:"execute"`
	Arguments map[string]any `json:"arguments,omitempty"`
}

// qmp runs commands, in order, on the QMP socket at path, each answered
// within timeout; a command's error reply is an error naming it.
func qmp(path string, timeout time.Duration, cmds ...qmpCommand) error {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return fmt.Errorf("qmp greeting: %w", err)
	}
	for _, cmd := range append([]qmpCommand{{Execute: "qmp_capabilities"}}, cmds...) {
		conn.SetDeadline(time.Now().Add(timeout))
		if err := json.NewEncoder(conn).Encode(cmd); err != nil {
			return err
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				if cmd.Execute == "quit" {
					return nil // QEMU may close before answering
				}
				return fmt.Errorf("qmp %s: %w", cmd.Execute, err)
			}
			var reply struct {
				Event  string
				Return any
				Error  *struct{ Desc string }
			}
			if json.Unmarshal(line, &reply) != nil || reply.Event != "" {
				continue // an event, not the answer
			}
			if reply.Error != nil {
				return fmt.Errorf("qmp %s: %s", cmd.Execute, reply.Error.Desc)
			}
			break
		}
	}
	return nil
}

// Quit asks the QEMU listening for QMP on the unix socket at path to quit:
// a clean stop that lets QEMU close its files, unlike a signal.
func Quit(path string) error {
	return qmp(path, 5*time.Second, qmpCommand{Execute: "quit"})
}

// DumpMemory has the QEMU listening for QMP at path write the guest's
// memory to file (dump-guest-memory, without paging: physical memory as
// it is, with VMCOREINFO when the guest gave it to -device vmcoreinfo),
// the guest stopped meanwhile. format is QEMU's: elf (the default) or
// kdump-zlib (makedumpfile's compressed format).
func DumpMemory(path, file, format string) error {
	if format == "" {
		format = "elf"
	}
	return qmp(path, 10*time.Minute, qmpCommand{Execute: "stop"},
		qmpCommand{Execute: "dump-guest-memory", Arguments: map[string]any{"paging": false, "protocol": "file:" + file, "format": format}})
}

// QMPArgs returns the arguments that make QEMU listen for QMP on path.
func QMPArgs(path string) []string {
	return []string{"-qmp", "unix:" + path + ",server=on,wait=off"}
}
