# make demo: build an initramfs and boot it in QEMU with a kernel fetched here.
# make test: install what the tests need, then run all of them.
SHELL := /bin/bash
GO := $(shell scripts/ensure-go.sh)
# The gofmt of the toolchain that builds (a fresh machine's PATH may have none).
GOFMT := $(GO) run cmd/gofmt
# Debian packages the tests run for real: GNU cpio, QEMU (TCG), a static
# busybox for the guest, the reference compressors, the mkfs tools and
# blkid that the superblock probes are checked against, and a kernel tree
# (linux-source-6.1) with what its build needs; what disk create runs
# (mtools, and lvm2 and mdadm in its VM), mmdebstrap for disk debian, and
# ssh to log into what it makes; gdb-multiarch debugs the arm64 guest, and
# arm64's libc links the dynamic arm64 program exec must refuse.
TEST_DEBS := cpio qemu-system-x86 qemu-utils busybox-static zstd pigz xz-utils lz4 bzip2 gzip findutils apt dpkg gdbserver cryptsetup-bin libc-bin kmod e2fsprogs gdb gcc libc6-dev llvm elfutils binutils \
	xfsprogs btrfs-progs dosfstools squashfs-tools fdisk util-linux mount systemd \
	mtools lvm2 mdadm mmdebstrap uidmap openssh-client dropbear-bin crash makedumpfile kexec-tools lava-server lava-dispatcher postgresql \
	linux-source-6.1 bc flex bison libelf-dev libssl-dev make ccache gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm gdb-multiarch
BENCH_DEBS := hyperfine python3
# A count, not a duration: a duration ends in a deadline that can fail a
# run whose input is still being processed.
FUZZTIME ?= 30000x
FUZZ_TARGETS := cpio:FuzzReader cpio:FuzzRoundTrip compress:FuzzDetect compress:FuzzReadStream image:FuzzReader probe:FuzzFilesystem probe:FuzzPartitions internal/pid1:FuzzParseCmdline oops:FuzzParse decode:FuzzDisassemble symbolize:FuzzAranges symbolize:FuzzFile vmcore:FuzzOpen vmcore:FuzzInfo vmcore:FuzzFlat vmcore:FuzzKdumpHeader kconfig:FuzzParse kmod:FuzzGlobsIntersect internal/printable:FuzzString qemu:FuzzInspectImage vmexec:FuzzStatusPort spec:FuzzLoad kernel:FuzzFindInitramfs
# staticcheck, pinned, from the module proxy: bugs vet does not catch.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build deps kernel kernels test unit fuzz demo bench clean
all: build

# initkit-init goes beside initkit, where initkit build looks for it; it
# must be static and small: it is the initramfs's /init. initkit-init-aarch64
# is the same init for arm64 guests (an image built for an arm64 kernel).
build:
	$(GO) build -o bin/initkit ./cmd/initkit
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/initkit-init ./cmd/initkit-init
	CGO_ENABLED=0 GOARCH=arm64 $(GO) build -trimpath -ldflags='-s -w' -o bin/initkit-init-aarch64 ./cmd/initkit-init

# The Debian packages, and initkit-test: the normal user with subordinate
# ids that the rootless tests (disk debian's unshare mode) run as.
deps:
	@scripts/deps.sh $(TEST_DEBS)
	@scripts/testuser.sh

# Fetch (once, then from the cache) the kernel the VM tests boot, with the
# DWARF vmlinux of its -dbg package for the kernel debugging tests, and
# the same flavour for arm64.
kernel: build
	bin/initkit kernel fetch --debug-info
	@# Debian's arm64 kernel, for the arm64 guests of the distribution's kernel.
	bin/initkit kernel fetch --arch arm64
	@# The decode tests build a module that faults, against these headers.
	@scripts/deps.sh make linux-headers-$$(bin/initkit kernel fetch | awk '/^release:/ {print $$2}')

# Build the kernels the VM tests build themselves (internal/testenv's
# TestKernels) before the tests, outside go test's timeout, with a line
# of progress every 30 s: minutes on a first run, seconds when cached.
kernels: deps
	$(GO) run ./internal/testenv/testkernels

test: deps kernel kernels
	@out=$$($(GOFMT) -l $$(git ls-files '*.go')); test -z "$$out" || { echo "not gofmt'd: $$out"; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) test -count=1 -timeout 60m ./...
	$(MAKE) --no-print-directory fuzz

# The tests that boot no VM, for a quick loop: every package but vmtest,
# with -short (qemu's tests that boot a kernel skip then; make test runs
# them). No Debian packages are installed: what a test needs must be there.
unit:
	@out=$$($(GOFMT) -l $$(git ls-files '*.go')); test -z "$$out" || { echo "not gofmt'd: $$out"; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) test -short -count=1 $$($(GO) list ./... | grep -v /vmtest$$)

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
	  out=$$($(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$pkg 2>&1) || { echo "$$out"; exit 1; }; \
	done

demo: deps kernel
	@scripts/demo.sh bin/initkit

bench: deps build
	@scripts/deps.sh $(BENCH_DEBS)
	bench/inspect-pack.sh

clean:
	rm -rf bin
