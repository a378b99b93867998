package qemu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// Quit asks the QEMU listening for QMP on the unix socket at path to quit:
// a clean stop that lets QEMU close its files, unlike a signal.
func Quit(path string) error {
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
	for _, cmd := range []string{"qmp_capabilities", "quit"} {
		if err := json.NewEncoder(conn).Encode(map[string]string{"execute": cmd}); err != nil {
			return err
		}
		line, err := r.ReadBytes('\n')
		if err != nil {
			if cmd == "quit" {
				return nil // QEMU may close before answering
			}
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		var reply struct{ Error *struct{ Desc string } }
		if json.Unmarshal(line, &reply) == nil && reply.Error != nil {
			return fmt.Errorf("qmp %s: %s", cmd, reply.Error.Desc)
		}
	}
	return nil
}

// QMPArgs returns the arguments that make QEMU listen for QMP on path.
func QMPArgs(path string) []string {
	return []string{"-qmp", "unix:" + path + ",server=on,wait=off"}
}
