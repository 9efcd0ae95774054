#!/usr/bin/env bash
# The sched_ext backend's tests, inside a VM booted on a sched_ext kernel.
#
#   bash scripts/vm-test.sh          # as root; CI runs it from scripts/test.sh
#
# 1. installs what is missing on the host (qemu-system-x86, busybox-static,
#    cpio, zstd, clang-19, bpftool, libelf-dev, zlib1g-dev, libzstd-dev);
# 2. fetches, into a cache outside the tree, Debian sid's cloud kernel
#    (CONFIG_SCHED_CLASS_EXT=y) with apt-get download against a sid source
#    list kept in the cache (the machine's apt sources are not touched), and
#    makes its vmlinux.h from the kernel's BTF; fetches the scx BPF headers
#    (crates.io crate scx_cargo, directory bpf_h/) with cargo;
# 3. builds a static `alps` with the `scx` feature (CARGO_TARGET_DIR
#    target/vm, so the host build is not disturbed);
# 4. boots qemu (TCG, 2 vCPUs, 2 GiB) with a busybox initramfs whose init
#    (scripts/vm/init) runs `alps scx-selftest` and a small
#    `alps compare --backend scx`, and prints `ALPS-VM-RESULT: N passed, M failed`;
# 5. exits 0 only if the guest reported no failure.
#
# Environment:
#   ALPS_SKIP_VM=1         skip everything (exit 0)
#   ALPS_VM_CACHE=DIR      cache (default /var/cache/alps-vm)
#   ALPS_VM_REFRESH=1      look for a newer sid kernel even if one is cached
#   ALPS_VM_TIMEOUT=S      qemu's time limit (default 1800 s)
#   ALPS_VM_COMPARE=0      skip the in-VM compare
#   ALPS_VM_ONLY=stall     run only that self-test (debugging)
#   ALPS_VM_OUT=DIR        guest console log and files (default target/vm/out)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "${ALPS_SKIP_VM:-0}" = "1" ]; then
	echo "vm-test: skipped (ALPS_SKIP_VM=1)"
	exit 0
fi

T_START=$(date +%s)
CACHE=${ALPS_VM_CACHE:-/var/cache/alps-vm}
OUT=${ALPS_VM_OUT:-$ROOT/target/vm/out}
VM_TIMEOUT=${ALPS_VM_TIMEOUT:-1800}
SCX_CARGO_VERSION=1.1.4
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p "$CACHE" "$OUT"

say() { echo "vm-test: $*"; }
die() {
	echo "vm-test: error: $*" >&2
	echo "vm-test: 0 passed, 1 failed"
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (apt-get install, and the guest runs as root anyway)"

# ---- 1. host packages -------------------------------------------------------
need_pkgs=()
for pair in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static cpio:cpio zstd:zstd \
	clang-19:clang-19 bpftool:bpftool; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
		need_pkgs+=("$pkg")
	fi
done
for pair in /usr/lib/x86_64-linux-gnu/libelf.a:libelf-dev /usr/lib/x86_64-linux-gnu/libz.a:zlib1g-dev \
	/usr/lib/x86_64-linux-gnu/libzstd.a:libzstd-dev; do
	[ -e "${pair%%:*}" ] || need_pkgs+=("${pair#*:}")
done
# busybox-static replaces a dynamic busybox: check it is the static one.
if command -v busybox >/dev/null && ! file -L "$(command -v busybox)" 2>/dev/null | grep -q static; then
	need_pkgs+=(busybox-static)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
	say "installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	timeout 600 apt-get install -y "${need_pkgs[@]}" >/dev/null 2>&1 ||
		{ timeout 300 apt-get update >/dev/null 2>&1 && timeout 900 apt-get install -y "${need_pkgs[@]}" >/dev/null; } ||
		die "could not install ${need_pkgs[*]}"
fi
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)
BUSYBOX=$(command -v busybox)

# ---- 2. the sid kernel ----------------------------------------------------
KDIR=$CACHE/kernel
APTDIR=$CACHE/apt
APT_SID=(-o Dir::Etc::sourcelist="$APTDIR/sources.list" -o Dir::Etc::sourceparts=-
	-o Dir::State::Lists="$APTDIR/lists" -o Dir::Cache="$APTDIR/cache"
	-o Dir::State::status="$APTDIR/status" -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1)
if [ ! -s "$KDIR/vmlinuz" ] || [ "${ALPS_VM_REFRESH:-0}" = "1" ]; then
	say "fetching Debian sid's cloud kernel into $CACHE"
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$KDIR"
	echo "deb http://deb.debian.org/debian sid main" >"$APTDIR/sources.list"
	: >"$APTDIR/status"
	timeout 600 apt-get "${APT_SID[@]}" update >"$APTDIR/update.log" 2>&1 ||
		die "apt-get update against sid failed (see $APTDIR/update.log)"
	PKG=$(apt-cache "${APT_SID[@]}" pkgnames linux-binary- 2>/dev/null | grep -E '^linux-binary-[0-9][^ ]*-cloud-amd64$' | sort -V | tail -n 1)
	[ -n "$PKG" ] || die "no linux-binary-*-cloud-amd64 package in sid"
	KVER=${PKG#linux-binary-}
	say "kernel package $PKG"
	DL=$(mktemp -d)
	(cd "$DL" && timeout 900 apt-get "${APT_SID[@]}" download "$PKG" "linux-base-$KVER" >"$APTDIR/download.log" 2>&1) ||
		die "apt-get download $PKG failed (see $APTDIR/download.log)"
	X=$DL/x
	mkdir -p "$X"
	for d in "$DL"/*.deb; do dpkg-deb -x "$d" "$X"; done
	cp "$X/usr/lib/modules/$KVER/vmlinuz" "$KDIR/vmlinuz.new"
	cp "$X/usr/lib/modules/$KVER/config" "$KDIR/config"
	rm -rf "$DL"
	grep -q '^CONFIG_SCHED_CLASS_EXT=y' "$KDIR/config" || die "$PKG has no CONFIG_SCHED_CLASS_EXT"
	mv "$KDIR/vmlinuz.new" "$KDIR/vmlinuz"
	echo "$KVER" >"$KDIR/version"
	rm -f "$KDIR/vmlinux.h"
fi
KVER=$(cat "$KDIR/version")
if [ ! -s "$KDIR/vmlinux.h" ]; then
	say "vmlinux.h from the kernel's BTF"
	# The bzImage carries a zstd-compressed vmlinux: cut at the zstd magic.
	OFF=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$KDIR/vmlinuz" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
	[ -n "$OFF" ] || die "no zstd payload in $KDIR/vmlinuz"
	tail -c +$((OFF + 1)) "$KDIR/vmlinuz" | zstd -dc >"$KDIR/vmlinux" 2>/dev/null || true
	[ -s "$KDIR/vmlinux" ] || die "could not decompress the kernel image"
	"$BPFTOOL" btf dump file "$KDIR/vmlinux" format c >"$KDIR/vmlinux.h.new" ||
		die "bpftool could not dump the kernel's BTF"
	mv "$KDIR/vmlinux.h.new" "$KDIR/vmlinux.h"
	rm -f "$KDIR/vmlinux"
fi

# ---- scx headers (crates.io: scx_cargo's bpf_h/) ---------------------------
SCXH=$CACHE/scx-$SCX_CARGO_VERSION
if [ ! -s "$SCXH/bpf_h/scx/common.bpf.h" ]; then
	say "scx headers from crate scx_cargo $SCX_CARGO_VERSION"
	F=$CACHE/scx-fetch
	mkdir -p "$F/src"
	cat >"$F/Cargo.toml" <<EOF
[package]
name = "alps-scx-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
scx_cargo = "=$SCX_CARGO_VERSION"
EOF
	: >"$F/src/lib.rs"
	(cd "$F" && timeout 600 cargo fetch >/dev/null 2>&1) || die "cargo fetch of scx_cargo failed"
	SRC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/scx_cargo-$SCX_CARGO_VERSION 2>/dev/null | head -n 1)
	[ -n "$SRC" ] && [ -d "$SRC/bpf_h" ] || die "scx_cargo $SCX_CARGO_VERSION has no bpf_h/"
	rm -rf "$SCXH"
	mkdir -p "$SCXH"
	cp -r "$SRC/bpf_h" "$SCXH/bpf_h"
fi

# ---- 3. static alps with the scx feature -----------------------------------
say "building the static alps (feature scx, target/vm)"
export ALPS_SCX_CLANG=clang-19
export ALPS_SCX_INCLUDE="$KDIR:$SCXH/bpf_h"
# A static link must name the dependencies of the static C libraries the
# crates link (libelf: zstd, z; plotters' fonts: fontconfig, freetype, png,
# brotli, expat), after them: link-arg goes at the end of the command line.
STATIC_LIBS="-lelf -lzstd -lz $(pkg-config --static --libs fontconfig freetype2 2>/dev/null || true) -lm"
RF="-C target-feature=+crt-static"
# -l:libX.a: the archive itself (a plain -lX there would link the .so).
for l in $STATIC_LIBS; do
	case "$l" in
	-l*) RF="$RF -C link-arg=-l:lib${l#-l}.a" ;;
	*) RF="$RF -C link-arg=$l" ;;
	esac
done
RUSTFLAGS="$RF" CARGO_TARGET_DIR="$ROOT/target/vm" \
	timeout 2400 cargo build --release -p alps --features scx --target x86_64-unknown-linux-gnu \
	>"$OUT/build.log" 2>&1 || {
	tail -n 40 "$OUT/build.log"
	die "building the static alps failed (log: $OUT/build.log)"
}
ALPS=$ROOT/target/vm/x86_64-unknown-linux-gnu/release/alps
if command -v file >/dev/null; then
	file "$ALPS" | grep -q 'static' || die "$ALPS is not statically linked"
fi

# ---- 4. initramfs and boot --------------------------------------------------
IR=$(mktemp -d)
trap 'rm -rf "$IR"' EXIT
mkdir -p "$IR/bin" "$IR/sbin" "$IR/proc" "$IR/sys" "$IR/dev" "$IR/tmp" "$IR/run" "$IR/etc"
cp "$BUSYBOX" "$IR/bin/busybox"
ln -s busybox "$IR/bin/sh"
cp "$ALPS" "$IR/bin/alps"
cp scripts/vm/init "$IR/init"
chmod +x "$IR/init"
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/initrd.gz"

APPEND="console=ttyS0 quiet panic=-1 alps.compare=${ALPS_VM_COMPARE:-1}"
[ -z "${ALPS_VM_ONLY:-}" ] || APPEND="$APPEND alps.only=$ALPS_VM_ONLY"
# One TCG thread for both vCPUs: with multi-threaded TCG the kernel's
# live code patching (int3-based, done when sched_ext is disabled) was
# seen to oops once in a while ("Oops: int3" in __schedule).
run_vm() {
	say "booting $KVER under qemu (TCG single-threaded, 2 vCPUs, 2 GiB; limit ${VM_TIMEOUT}s); console: $OUT/console.log"
	set +e
	timeout --kill-after=10 "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg,thread=single -cpu max -smp 2 -m 2048 \
		-kernel "$KDIR/vmlinuz" -initrd "$OUT/initrd.gz" -append "$APPEND" \
		-nographic -no-reboot -monitor none -serial stdio </dev/null 2>&1 |
		tr -d '\r' | tee "$OUT/console.log" |
		awk '/^ALPS-VM-FILE-BEGIN/ { skip = 1 } !skip { print; fflush() } /^ALPS-VM-FILE-END/ { skip = 0 }'
	QRC=${PIPESTATUS[0]}
	set -e
}
T_BOOT=$(date +%s)
run_vm
# A guest kernel crash (not a test failure) gets one more boot.
if ! grep -qa '^ALPS-VM-RESULT: ' "$OUT/console.log" && grep -qa 'Kernel panic' "$OUT/console.log"; then
	cp "$OUT/console.log" "$OUT/console-crash.log"
	say "the guest kernel crashed (kept in $OUT/console-crash.log); booting once more"
	run_vm
fi
T_END=$(date +%s)

# Files the guest printed between markers.
awk -v out="$OUT" '
	/^ALPS-VM-FILE-BEGIN / { name = $2; gsub("/", "_", name); f = out "/guest-" name; printf "" > f; next }
	/^ALPS-VM-FILE-END/ { if (f) close(f); f = ""; next }
	f { print >> f }' "$OUT/console.log"

RESULT=$(grep -a '^ALPS-VM-RESULT: ' "$OUT/console.log" | tail -n 1 || true)
say "setup+build $((T_BOOT - T_START)) s, VM $((T_END - T_BOOT)) s"
if [ -z "$RESULT" ]; then
	if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
		die "the VM did not finish within ${VM_TIMEOUT}s (console: $OUT/console.log)"
	fi
	die "the VM gave no result line (qemu exit $QRC; console: $OUT/console.log)"
fi
P=$(echo "$RESULT" | sed -n 's/^ALPS-VM-RESULT: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
F=$(echo "$RESULT" | sed -n 's/^ALPS-VM-RESULT: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
echo "vm-test: ${P:-0} passed, ${F:-1} failed"
[ "${F:-1}" = 0 ] && [ "${P:-0}" -gt 0 ]
