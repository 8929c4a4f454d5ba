#!/usr/bin/env bash
# The shipped dex10 students and the rows of docs/results.md, in the order
# they were made. Usage: scripts/train-students.sh [session-dir]
# Each step is a plain dexstudio command; the seeds are the defaults (1 for
# networks and batches, 0 for collection and evaluation).
set -euo pipefail
cd "$(dirname "$0")/.."
S="${1:-sessions/dex10}"
cargo build --release
D=target/release/dexstudio
T=(--task reach-easy --task pose-easy --task key-turn-easy --task key-turn-hard)

# 1. Demonstrations: 100 successful episodes of each task whose expert
#    solves it (the other experts solve none; collection gives up on them).
$D collect "${T[@]}" --episodes 100 --session "$S"

# 2. BC (no critic): pre-trains and freezes the image encoder. Its top-up
#    collection finds 19 reach-hard episodes; the other tasks stay empty.
$D distill --method bc --suite dex10 --demos-per-task 100 --session "$S"

# 3. ACGD, on the BC student's frozen encoder (same data, same seed).
$D distill --method acgd --suite dex10 --demos-per-task 100 --session "$S" \
  --backbone "$S/students/bc-dex10-100/student.safetensors"

# 4. Baselines on the same encoder: vanilla ACT with and without the critic,
#    and DAgger on top of the BC student.
for M in act act-critic; do
  $D distill --method $M --suite dex10 --demos-per-task 100 --session "$S" --no-collect \
    --backbone "$S/students/bc-dex10-100/student.safetensors"
done
$D distill --method dagger --suite dex10 --demos-per-task 100 --session "$S" --no-collect

# 5. Evaluation (50 episodes per task, evaluation seeds) and the report.
for P in "$S"/students/*/; do
  $D eval --policy "$P" --suite dex10 --episodes 50
done
$D report --session "$S" --suite dex10

# 6. Ship the two students.
for M in acgd bc; do
  mkdir -p assets/students/$M-dex10
  cp "$S/students/$M-dex10-100/"{student.json,student.safetensors,losses.csv} assets/students/$M-dex10/
done
