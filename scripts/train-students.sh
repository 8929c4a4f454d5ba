#!/usr/bin/env bash
# The dex10 students of docs/results.md and the two shipped in
# assets/students/, in the order they were made. Usage:
#   scripts/train-students.sh [session-dir]
# Seeds are the defaults: 1 for networks and batches, 0 for collection and
# evaluation (evaluation seeds live in their own domain).
set -euo pipefail
cd "$(dirname "$0")/.."
S="${1:-sessions/dex10}"
cargo build --release
D=target/release/dexstudio
T=(--task reach-easy --task pose-easy --task key-turn-easy --task key-turn-hard)
N=(--suite dex10 --demos-per-task 100 --session "$S")
ENC=(--backbone "$S/students/bc-v0-dex10-100/student.safetensors")

# 1. Demonstrations: 100 successful episodes of each task whose expert
#    solves it.
$D collect "${T[@]}" --episodes 100 --session "$S"

# 2. The first BC run, with the first settings: its top-up collection gives
#    up on the tasks no expert solves (finding 19 reach-hard episodes), and
#    it pre-trains the image encoder every later student reuses.
$D distill --method bc "${N[@]}" --config scripts/student-v0.toml --out "$S/students/bc-v0-dex10-100"
$D distill --method acgd "${N[@]}" --no-collect --config scripts/student-v0.toml "${ENC[@]}" \
  --out "$S/students/acgd-v0-dex10-100"

# 3. The shipped BC and ACGD students (default settings), on that encoder.
$D distill --method bc "${N[@]}" --no-collect "${ENC[@]}"
$D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}"
$D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}" --alpha 0.3 \
  --out "$S/students/acgd-a0.3-dex10-100"

# 4. Baselines: DAgger on the BC student, vanilla ACT with and without the
#    critic on the same encoder.
$D distill --method dagger "${N[@]}" --no-collect
for M in act act-critic; do
  $D distill --method $M "${N[@]}" --no-collect "${ENC[@]}"
done
# PolyTask from regenerated, relabelled expert buffers (one-hot goals), and
# its lifelong mode on dex5-easy (tasks arriving one by one, against
# sequential fine-tuning; evaluated with 20 episodes per task and stage).
$D distill --method polytask "${N[@]}"
$D distill --method bc-rnn "${N[@]}" --no-collect
$D distill --method polytask --lifelong --suite dex5-easy --demos-per-task 100 --session "$S"
$D eval --policy "$S/students/polytask-lifelong-dex5-easy-100" --episodes 20

# 5. Evaluation (50 episodes per task, rendered goal images) and the report.
for P in "$S"/students/*-dex10-100/; do
  $D eval --policy "$P" --suite dex10 --episodes 50
done
$D report --session "$S" --suite dex10

# 6. Ship BC and ACGD.
for M in acgd bc; do
  mkdir -p assets/students/$M-dex10
  cp "$S/students/$M-dex10-100/"{student.json,student.safetensors,losses.csv,eval-dex10-rendered.json} \
    assets/students/$M-dex10/
done
