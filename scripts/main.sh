#!/usr/bin/env bash
# The main job: set-up, build, then the side-by-side comparison of EEVDF,
# baseline ALPS and I/O-aware ALPS on the built-in mixed workload.
# Extra arguments go to `alps compare` (see `alps compare --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release -p alps
exec ./target/release/alps compare --out "${ALPS_OUT:-results/compare}" "$@"
