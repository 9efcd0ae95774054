#!/usr/bin/env bash
# Builds the paper from paper/data (no experiments run): every figure,
# table and quoted number is generated from the data. Output:
# paper/build/paper.md (+ paper.html when pandoc is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p alps
./target/release/alps paper --template paper/paper.md.in --data paper/data --out paper/build
if command -v pandoc >/dev/null 2>&1; then
    (cd paper/build && pandoc paper.md -s --metadata title="I/O-aware ALPS" -o paper.html)
    echo "wrote paper/build/paper.html"
fi
