package pid1

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestWantedBeyond(t *testing.T) {
	m := &modules{
		deps: map[string][]string{
			"kernel/virtio_pci.ko": {"kernel/virtio.ko"},
			"kernel/virtio.ko":     nil,
			"kernel/virtio_blk.ko": {"kernel/virtio.ko"},
			"kernel/virtio_net.ko": {"kernel/virtio.ko"},
		},
		paths: map[string]string{"virtio_pci": "kernel/virtio_pci.ko", "virtio": "kernel/virtio.ko",
			"virtio_blk": "kernel/virtio_blk.ko", "virtio_net": "kernel/virtio_net.ko"},
		aliases: []alias{{"pci:v00001AF4d*", "virtio_pci"}, {"virtio:d00000002v*", "virtio_blk"}},
		order:   []string{"kernel/virtio_pci.ko"},
		builtin: map[string]bool{}, loaded: map[string]bool{},
	}
	if !m.wantedBeyond(nil) {
		t.Error("virtio_blk has an alias and is not listed: a device could ask for it")
	}
	if m.wantedBeyond([]string{"virtio-blk"}) {
		t.Error("every aliased module is listed: no device can ask for more")
	}
	m.order = nil
	m.loaded["virtio_pci"] = true
	m.builtin["virtio_blk"] = true
	if m.wantedBeyond(nil) {
		t.Error("loaded and built-in modules are not wanted")
	}
	m.aliases = append(m.aliases, alias{"virtio:d00000001v*", "virtio_net"})
	if !m.wantedBeyond([]string{"virtio_pci"}) {
		t.Error("virtio_net: a dependency of nothing listed, wanted by its alias")
	}
}

// TestBuiltinReadWhenAsked: a module the image lacks is looked up in
// modules.builtin (read then), and a built-in one needs no loading.
func TestBuiltinReadWhenAsked(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/modules.builtin", []byte("kernel/fs/ext4/ext4.ko\nkernel/drivers/nvme/host/nvme-core.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logged []string
	m := &modules{dir: dir, paths: map[string]string{}, loaded: map[string]bool{},
		log: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	if !m.loadName("nvme_core") || !m.loadName("ext4") || len(logged) > 0 {
		t.Fatalf("built-in modules: logged %q", logged)
	}
	if m.loadName("no_such_module") || len(logged) != 1 || !strings.Contains(logged[0], "not in the image") {
		t.Fatalf("a module neither built in nor in the image: logged %q", logged)
	}
}
