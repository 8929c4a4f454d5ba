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

# 3. The shipped BC and ACGD students (default settings), on that encoder,
#    and ACGD variants: the critic on the first action only (the paper's
#    L_distill, the default before --critic-span), and other weights α.
$D distill --method bc "${N[@]}" --no-collect "${ENC[@]}"
$D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}"
$D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}" --critic-span first \
  --out "$S/students/acgd-first-dex10-100"
$D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}" --critic-span first --alpha 0.3 \
  --out "$S/students/acgd-a0.3-dex10-100"
for A in 0.5 2; do
  $D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}" --alpha $A \
    --out "$S/students/acgd-a$A-dex10-100"
done
# The pair with a cosine learning-rate schedule (not the default: worse).
for M in bc acgd; do
  $D distill --method $M "${N[@]}" --no-collect "${ENC[@]}" --lr-schedule cosine \
    --out "$S/students/$M-cos-dex10-100"
done
# The shipped pair again with training seeds 2 and 3 (the report's seeds
# table).
for SEED in 2 3; do
  for M in bc acgd; do
    $D distill --method $M "${N[@]}" --no-collect "${ENC[@]}" --seed $SEED \
      --out "$S/students/$M-s$SEED-dex10-100"
  done
done

# The critic pulling on the action as hard as L_act (--q-norm grad; not
# the default: no gain), three seeds, and with ten times L_act's pull
# (alpha 0.1).
for SEED in 1 2 3; do
  $D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}" --q-norm grad --seed $SEED \
    --out "$S/students/acgd-qg-s$SEED-dex10-100"
done
$D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}" --q-norm grad --alpha 0.1 \
  --out "$S/students/acgd-qg-a0.1-dex10-100"

# 4. Baselines: DAgger on the BC student, vanilla ACT with and without the
#    critic on the same encoder.
$D distill --method dagger "${N[@]}" --no-collect
$D distill --method act "${N[@]}" --no-collect "${ENC[@]}"
$D distill --method act-critic "${N[@]}" --no-collect "${ENC[@]}" --critic-span first
$D distill --method dagger --from "$S/students/act-dex10-100" "${N[@]}" --no-collect
# PolyTask from regenerated, relabelled expert buffers (one-hot goals), and
# its lifelong mode on dex5-easy (tasks arriving one by one, against
# sequential fine-tuning; evaluated with 20 episodes per task and stage).
$D distill --method polytask "${N[@]}"
$D distill --method polytask --goal-mode image "${N[@]}"
$D distill --method bc-rnn "${N[@]}" --no-collect
$D distill --method polytask --lifelong --suite dex5-easy --demos-per-task 100 --session "$S"
$D eval --policy "$S/students/polytask-lifelong-dex5-easy-100" --episodes 20

# Scaling: 400 more demonstrations of each task the experts solve, and BC
# and ACGD on 500 per task (reach-hard keeps its 19).
$D collect "${T[@]}" --episodes 400 --session "$S"
for M in bc acgd; do
  $D distill --method $M --suite dex10 --demos-per-task 500 --session "$S" --no-collect "${ENC[@]}"
done

# opdex (spray-1, spray-2) and bidex (scissors, switch, bottle-cap; two
# hands, 44 actions), each in its own session sessions/<suite>: BC collects
# 100 demonstrations per task and pre-trains that suite's encoder; ACGD
# reuses it.
for X in opdex bidex; do
  $D distill --method bc --suite $X --demos-per-task 100 --session "sessions/$X"
  $D distill --method acgd --suite $X --demos-per-task 100 --session "sessions/$X" --no-collect \
    --backbone "sessions/$X/students/bc-$X-100/student.safetensors"
  for M in bc acgd; do
    $D eval --policy "sessions/$X/students/$M-$X-100" --episodes 50
  done
  $D report --session "sessions/$X" --suite $X
done

# BC and ACGD for dex5-easy and for dex5-hard alone, on the same encoder and
# demonstrations (the report's per-suite table).
for X in dex5-easy dex5-hard; do
  for M in bc acgd; do
    $D distill --method $M --suite $X --demos-per-task 100 --session "$S" --no-collect "${ENC[@]}"
    $D eval --policy "$S/students/$M-$X-100" --episodes 50
  done
done

# Noise-injected demonstrations in their own session sessions/dex10n: the
# experts execute their mean action plus Gaussian noise 0.1, the label stays
# the mean action (reach-hard finds no solved episode under noise). BC and
# ACGD (seeds 1 and 2) and ACGD with --q-norm grad, on the same encoder.
SN=sessions/dex10n
NN=(--suite dex10 --demos-per-task 100 --session "$SN" --no-collect "${ENC[@]}")
$D collect "${T[@]}" --episodes 100 --session "$SN" --action-noise 0.1
$D collect --task reach-hard --episodes 19 --session "$SN" --action-noise 0.1
for M in bc acgd; do
  $D distill --method $M "${NN[@]}"
  $D distill --method $M "${NN[@]}" --seed 2 --out "$SN/students/$M-s2-dex10-100"
done
$D distill --method acgd "${NN[@]}" --q-norm grad --out "$SN/students/acgd-qg-dex10-100"
for P in "$SN"/students/*-dex10-100/; do
  $D eval --policy "$P" --suite dex10 --episodes 50
done
$D report --session "$SN" --suite dex10

# 5. Evaluation (50 episodes per task, rendered goal images) and the report.
for P in "$S"/students/*-dex10-100/ "$S"/students/*-dex10-500/; do
  $D eval --policy "$P" --suite dex10 --episodes 50
done
$D report --session "$S" --suite dex10

# 6. Ship BC and ACGD, for dex10, opdex and bidex.
for M in acgd bc; do
  mkdir -p assets/students/$M-dex10
  cp "$S/students/$M-dex10-100/"{student.json,student.safetensors,losses.csv,eval-dex10-rendered.json} \
    assets/students/$M-dex10/
  for X in opdex bidex; do
    mkdir -p assets/students/$M-$X
    cp "sessions/$X/students/$M-$X-100/"{student.json,student.safetensors,losses.csv,eval-$X-rendered.json} \
      assets/students/$M-$X/
  done
done
