package kernel

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/initkit/initkit/kconfig"
)

// bzImage writes a file with an x86 setup header whose payload is
// payload, compressed by the command given (gzip -c, xz -c, ...).
func bzImage(t *testing.T, payload io.Reader, compressor ...string) string {
	t.Helper()
	var z bytes.Buffer
	cmd := exec.Command(compressor[0], compressor[1:]...)
	cmd.Stdin, cmd.Stdout = payload, &z
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v", compressor, err)
	}
	h := make([]byte, 2*512) // setup_sects 1: the payload's offset counts from 1024
	h[0x1f1] = 1
	copy(h[0x202:], "HdrS")
	binary.LittleEndian.PutUint32(h[0x248:], 16)
	binary.LittleEndian.PutUint32(h[0x24c:], uint32(z.Len()))
	img := filepath.Join(t.TempDir(), "bzImage")
	data := append(append(h, make([]byte, 16)...), z.Bytes()...)
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

// ikconfig is a vmlinux's bytes with a gzipped config between the
// markers, its start marker cut by the MB boundary the search reads in.
func ikconfig(t *testing.T, config string) io.Reader {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, config)
	zw.Close()
	var b bytes.Buffer
	b.Write(make([]byte, 1<<20-3))
	b.WriteString("IKCFG_ST")
	b.Write(gz.Bytes())
	b.WriteString("IKCFG_ED")
	b.Write(make([]byte, 1<<20))
	return &b
}

// zeros is an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestEmbeddedConfig: the config is found in a gzip and an xz payload
// (the latter by xz(1), for the BCJ filter), even with a marker across
// the search's reads; and an image is untrusted: a payload that
// decompresses to gigabytes costs neither their memory nor their time,
// an end marker that never comes is an error, and a payload that lies
// outside the file is one.
func TestEmbeddedConfig(t *testing.T) {
	const config = "CONFIG_IKCONFIG=y\nCONFIG_RD_XZ=y\n# CONFIG_KASAN is not set\n"
	for _, c := range [][]string{{"gzip", "-c"}, {"xz", "-c", "--check=crc32"}} {
		cfg, err := EmbeddedConfig(bzImage(t, ikconfig(t, config), c...))
		if err != nil || cfg.Value("RD_XZ") != "y" || cfg.Value("KASAN") != "n" || len(cfg) != 3 {
			t.Errorf("%s payload: %v, %v", c[0], cfg, err)
		}
	}

	// 256 MB of zeros, four times the bound: the search stops at it,
	// holding a MB.
	defer func(n int64) { maxVmlinux = n }(maxVmlinux)
	maxVmlinux = 64 << 20
	bomb := bzImage(t, io.LimitReader(zeros{}, 256<<20), "xz", "-0", "-T1", "-c")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := EmbeddedConfig(bomb)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errNoConfig) || !strings.Contains(err.Error(), "carries no config") {
		t.Errorf("an xz bomb: %v, want no config", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Errorf("an xz bomb: %d bytes allocated", n)
	}

	open := io.MultiReader(strings.NewReader("IKCFG_ST"), io.LimitReader(zeros{}, 8<<20))
	if _, err := EmbeddedConfig(bzImage(t, open, "gzip", "-c")); err == nil || !strings.Contains(err.Error(), "no IKCFG_ED within") {
		t.Errorf("no end marker: %v", err)
	}

	img := bzImage(t, ikconfig(t, config), "gzip", "-c")
	os.Truncate(img, 2000)
	if _, err := EmbeddedConfig(img); err == nil || !strings.Contains(err.Error(), "payload lies outside the file") {
		t.Errorf("a payload past the end of the file: %v", err)
	}
}

// TestManifestPathsAbsolute: a build made with a relative -O writes a
// manifest whose paths hold from any working directory. The tree is a
// stand-in whose make writes what Kbuild's would: the image and
// kernel.release; a release that climbs out of /lib/modules is refused.
func TestManifestPathsAbsolute(t *testing.T) {
	top := t.TempDir()
	src := filepath.Join(top, "linux")
	os.MkdirAll(filepath.Join(top, "obj"), 0o755)
	os.MkdirAll(src, 0o755)
	makefile := "bzImage:\n\tmkdir -p $(O)/arch/x86/boot $(O)/include/config\n\techo kernel > $(O)/arch/x86/boot/bzImage\n\techo $(RELEASE) > $(O)/include/config/kernel.release\n"
	os.WriteFile(filepath.Join(src, "Makefile"), []byte(makefile), 0o644)
	os.WriteFile(filepath.Join(src, "Kconfig"), nil, 0o644)
	os.WriteFile(filepath.Join(top, "obj", ".config"), []byte("# CONFIG_MODULES is not set\n"), 0o644)
	t.Chdir(top)
	t.Setenv(CCacheEnv, "off")
	t.Setenv("RELEASE", "6.1.0-fake")
	m, err := Build(context.Background(), Tree{Src: "linux", Obj: "obj"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	got, err := ReadManifest(filepath.Join(top, "obj"))
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(got.Image) || got.Image != m.Image || got.Release != "6.1.0-fake" {
		t.Errorf("manifest image %q, release %q", got.Image, got.Release)
	}
	if _, err := os.Stat(got.Image); err != nil {
		t.Errorf("the manifest's image from another directory: %v", err)
	}

	t.Chdir(top)
	t.Setenv("RELEASE", "../../../home/user")
	if _, err := Build(context.Background(), Tree{Src: "linux", Obj: "obj"}, 1); err == nil || !strings.Contains(err.Error(), "is not a kernel release") {
		t.Errorf("a kernel.release of ../../../home/user: %v", err)
	}
}

// TestEmbeddedConfigNoSIGPIPE: once the config is found xz is killed,
// with megabytes of payload still unread. A command that watches
// SIGPIPE (repro, boot: interrupt.Graceful) must not receive one for
// it: a pipe initkit wrote xz's input through failed with EPIPE, which
// Go delivers as the signal, and repro stopped as if its output had
// gone.
func TestEmbeddedConfigNoSIGPIPE(t *testing.T) {
	const config = "CONFIG_IKCONFIG=y\n"
	noise := make([]byte, 16<<20)
	rand.New(rand.NewSource(1)).Read(noise) // incompressible: xz's input stays large
	img := bzImage(t, io.MultiReader(ikconfig(t, config), bytes.NewReader(noise)), "xz", "-0", "-T1", "-c")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGPIPE)
	defer signal.Stop(sig)
	if _, err := EmbeddedConfig(img); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sig:
		t.Error("reading the config raised SIGPIPE")
	case <-time.After(500 * time.Millisecond):
	}
}

// TestManifestConfined: a manifest names the files initkit boots, decodes
// with and reads; one that names files outside its build directory (sent
// by someone, or left by a build since moved) is refused, through a
// symlink too.
func TestManifestConfined(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(dir, ".config"), []byte("CONFIG_MODULES=y\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "arch/x86/boot"), 0o755)
	os.WriteFile(filepath.Join(dir, "arch/x86/boot/bzImage"), []byte("k"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "vmlinux"))
	sum := sha256.Sum256([]byte("CONFIG_MODULES=y\n"))
	write := func(m Manifest) {
		m.ConfigHash, m.Release = hex.EncodeToString(sum[:]), "6.1.0"
		b, _ := json.Marshal(m)
		os.WriteFile(filepath.Join(dir, ManifestName), b, 0o644)
	}
	image := filepath.Join(dir, "arch/x86/boot/bzImage")
	write(Manifest{Image: image, Vmlinux: filepath.Join(dir, "not-built-yet")})
	if _, err := ReadManifest(dir); err != nil {
		t.Fatalf("a manifest of the directory's own files: %v", err)
	}
	for name, m := range map[string]Manifest{
		"image outside":      {Image: filepath.Join(outside, "secret")},
		"vmlinux via ..":     {Image: image, Vmlinux: filepath.Join(dir, "../", filepath.Base(outside), "secret")},
		"vmlinux a symlink":  {Image: image, Vmlinux: filepath.Join(dir, "vmlinux")},
		"modules elsewhere":  {Image: image, ModulesDir: "/lib/modules"},
		"relative":           {Image: "arch/x86/boot/bzImage"},
		"system map outside": {Image: image, SystemMap: "/etc/passwd"},
	} {
		write(m)
		if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "is not in the build directory") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestCheckKernel: kernel check takes a kernel for its config, found as
// boot finds it: config-RELEASE beside the Debian kernel, a build tree's
// .config from its image or its directory; a kernel with none is an
// error that says where it looked, and a .config is read as it is.
func TestCheckKernel(t *testing.T) {
	k := realKernel(t)
	if _, from, err := ConfigOf(k.Image); err != nil || filepath.Base(from) != "config-"+k.Release {
		t.Errorf("the Debian kernel: %q, %v", from, err)
	}
	if missing, err := CheckConfig(k.Image, []string{"boot"}, ""); err != nil || len(missing) != 0 {
		t.Errorf("the Debian kernel lacks %v, %v", missing, err)
	}
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "arch/x86/boot"), 0o755)
	bz := make([]byte, 0x400)
	copy(bz[0x202:], "HdrS")
	image := filepath.Join(tree, "arch/x86/boot/bzImage")
	os.WriteFile(image, bz, 0o644)
	os.WriteFile(filepath.Join(tree, ".config"), []byte("CONFIG_64BIT=y\n"), 0o644)
	for _, p := range []string{image, tree} {
		missing, err := CheckConfig(p, []string{"boot"}, "")
		if err != nil || !slices.ContainsFunc(missing, func(m kconfig.Purposed) bool { return m.Name == "SERIAL_8250_CONSOLE" }) {
			t.Errorf("%s: %v, %v", p, missing, err)
		}
	}
	lone := filepath.Join(t.TempDir(), "bzImage")
	os.WriteFile(lone, bz, 0o644)
	if _, err := CheckConfig(lone, []string{"boot"}, ""); err == nil || !strings.Contains(err.Error(), "a kernel, and no config of it found") {
		t.Errorf("a kernel with no config: %v", err)
	}
	if _, _, err := ConfigOf(filepath.Join(tree, ".config")); err != nil {
		t.Errorf("a .config: %v", err)
	}
}
