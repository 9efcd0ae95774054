#!/usr/bin/env bash
# Regenerates every dataset the paper is built from, into paper/data/
# (live runs on this machine: about 40 minutes on 2 cores; simulations and
# ablations in seconds). Then `bash paper/build.sh` renders the paper.
# Run as root on an otherwise idle machine. ALPS_PAPER_QUICK=1 shortens the
# live parts (for trying the pipeline; not for the paper's numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p alps
A=./target/release/alps
D=paper/data
mkdir -p "$D"
quick=${ALPS_PAPER_QUICK:-0}
trials=3; dur=20; swdur=20
if [[ $quick == 1 ]]; then trials=1; dur=8; swdur=6; fi

# Keep what the paper needs of a comparison: compare.json, summaries and the
# first trial's records (the CDFs); not the stint timelines (large).
slim() { find "$1" -name stints.jsonl -delete; find "$1" -path '*/trial-[1-9]*' -name records.jsonl -delete; }

# 1. The main comparison (the README's main job), live.
$A compare --workload mixed --policies eevdf,alps,alps-io,sfs --trials $trials --duration $dur --no-progress --out $D/live-mixed
slim $D/live-mixed
# 2. CPU-only workload, live (5 trials: few, long invocations per run).
$A compare --workload cpu --policies eevdf,alps,alps-io --trials $((trials > 1 ? 5 : 1)) --duration $dur --no-progress --out $D/live-cpu
slim $D/live-cpu
# 3. More deceptive/I-O load, live.
$A compare --workload mixed --io-share 0.3 --policies eevdf,alps,alps-io --trials $((trials > 1 ? 2 : 1)) --duration $dur --no-progress --out $D/live-io30
slim $D/live-io30
# 4. Backend modes and the load x I/O-share sweep, live.
$A ablate ablations/backends-live.toml --out $D/ablations/backends-live
$A ablate ablations/io-elements-live.toml --out $D/ablations/io-elements-live
if [[ $quick == 1 ]]; then
    sed -e "s/^duration_s = .*/duration_s = $swdur/" -e 's/^load = \[.*/load = [0.8, 1.0]/' -e 's/^io_share = \[.*/io_share = [0.05, 0.3]/' \
        ablations/load-sweep-live.toml > /tmp/load-sweep-live-quick.toml
    $A ablate /tmp/load-sweep-live-quick.toml --out $D/ablations/load-sweep-live
else
    $A ablate ablations/load-sweep-live.toml --out $D/ablations/load-sweep-live
fi
find $D/ablations -name stints.jsonl -delete
find $D/ablations -name records.jsonl -delete
# 5. Simulation at scale: ALPS' own trace at 56 cores, 70/80/90% load;
#    the mixed workload at 2 and 56 cores.
for l in 0.7 0.8 0.9; do
    $A simulate --workload trace:alps:../shared/datasets/alps_exp_workload.txt --cores 56 --load $l --duration 0 \
        --policies eevdf,srpt,sfs,alps,alps-io --out $D/sim-alps56-$l
done
$A simulate --workload mixed --cores 56 --load 0.8 --duration 60 --trials 3 --out $D/sim-mixed56
$A simulate --workload mixed --cores 2 --load 0.8 --duration 120 --trials 3 --out $D/sim-mixed2
$A simulate --workload cpu --cores 2 --load 0.9 --duration 120 --trials 3 --out $D/sim-cpu2
# 6. Simulated ablations.
for f in io-elements fine-tune load-sweep; do
    $A ablate ablations/$f.toml --out $D/ablations/$f
done
# 7. Simulator against the live comparison.
$A validate --compare $D/live-mixed --out $D/validation.md
# 8. Probe overhead.
$A bench probes --rounds 7 --json $D/bench-probes.json | tee $D/bench-probes.txt
{ echo '```'; cat $D/bench-probes.txt; echo '```'; } > $D/bench-probes.md
# 9. Machine description.
{ uname -r; nproc; grep -m1 'model name' /proc/cpuinfo; date -u +%F; } > $D/machine.txt
echo "data in $D; now: bash paper/build.sh"
