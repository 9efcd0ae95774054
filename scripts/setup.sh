#!/usr/bin/env bash
# Installs what building and running alps needs on a fresh Debian 12 machine
# (idempotent: does nothing when everything is there). Run as root.
set -euo pipefail

need=()
for pkg in clang libelf-dev zlib1g-dev pkg-config make gcc fonts-dejavu-core libfontconfig1; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing packages ${need[*]}; run as root (or: sudo apt-get install ${need[*]})" >&2
        exit 1
    fi
    echo "setup: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup: no Rust toolchain found; install one with rustup (https://rustup.rs), then rerun" >&2
        exit 1
    fi
fi

# The syscall tracepoints are found through tracefs.
if [[ ! -d /sys/kernel/tracing/events && $(id -u) -eq 0 ]]; then
    mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
