#!/usr/bin/env bash
# The test command: set-up, then every test of the workspace (real BPF and
# real scheduling, so run as root), then the sched_ext tests inside a VM.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release --workspace --all-targets
cargo test --release --workspace --no-fail-fast -- --test-threads=2
# The sched_ext backend inside a VM (ALPS_SKIP_VM=1 skips it; see docs/SCX.md).
bash scripts/vm-test.sh
