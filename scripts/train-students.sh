#!/usr/bin/env bash
# The dex10 students of docs/results.md and the two shipped in
# assets/students/, in the order they were made. Usage:
#   scripts/train-students.sh [session-dir]
# Seeds are the defaults: 1 for networks and batches, 0 for collection and
# evaluation (evaluation seeds live in their own domain).
#
# Students made before start sampling became the default (--start-share
# 0.25) were trained with it off; their commands say --start-share 0, and
# the ones first made under the default names carry "ss0" in theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
S="${1:-sessions/dex10}"
cargo build --release
D=target/release/dexstudio
T=(--task reach-easy --task pose-easy --task key-turn-easy --task key-turn-hard)
N=(--suite dex10 --demos-per-task 100 --session "$S")
ENC=(--backbone "$S/students/bc-v0-dex10-100/student.safetensors")
OLD=("${ENC[@]}" --start-share 0)

# ACGD and BC with training seeds 1-3 and the extra flags after the tag,
# on the bc-v0 encoder, each evaluated: <method><tag>-dex10-100 (seed 1),
# <method><tag>-s2-dex10-100 and -s3.
seeds() {
  local tag=$1
  shift
  for SEED in 1 2 3; do
    for M in acgd bc; do
      O="$S/students/$M$tag-s$SEED-dex10-100"
      [ $SEED = 1 ] && O="$S/students/$M$tag-dex10-100"
      $D distill --method $M "${N[@]}" --no-collect "${ENC[@]}" --seed $SEED "$@" --out "$O"
      $D eval --policy "$O" --suite dex10 --episodes 50
    done
  done
}

# 1. Demonstrations: 100 successful episodes of each task whose expert
#    solves it.
$D collect "${T[@]}" --episodes 100 --session "$S"

# 2. The first BC run, with the first settings: its top-up collection gives
#    up on the tasks no expert solves (finding 19 reach-hard episodes), and
#    it pre-trains the image encoder every later student reuses.
$D distill --method bc "${N[@]}" --config scripts/student-v0.toml --start-share 0 \
  --out "$S/students/bc-v0-dex10-100"
$D distill --method acgd "${N[@]}" --no-collect --config scripts/student-v0.toml --start-share 0 \
  "${ENC[@]}" --out "$S/students/acgd-v0-dex10-100"

# 3. The BC and ACGD students shipped before start sampling, on that
#    encoder, and ACGD variants: the critic on the first action only (the
#    paper's L_distill, the default before --critic-span), and other
#    weights α.
for M in bc acgd; do
  $D distill --method $M "${N[@]}" --no-collect "${OLD[@]}" --out "$S/students/$M-ss0-dex10-100"
done
$D distill --method acgd "${N[@]}" --no-collect "${OLD[@]}" --critic-span first \
  --out "$S/students/acgd-first-dex10-100"
$D distill --method acgd "${N[@]}" --no-collect "${OLD[@]}" --critic-span first --alpha 0.3 \
  --out "$S/students/acgd-a0.3-dex10-100"
for A in 0.5 2; do
  $D distill --method acgd "${N[@]}" --no-collect "${OLD[@]}" --alpha $A \
    --out "$S/students/acgd-a$A-dex10-100"
done
# The pair with a cosine learning-rate schedule (not the default: worse).
for M in bc acgd; do
  $D distill --method $M "${N[@]}" --no-collect "${OLD[@]}" --lr-schedule cosine \
    --out "$S/students/$M-cos-dex10-100"
done
# The shipped pair again with training seeds 2 and 3 (the report's seeds
# table).
for SEED in 2 3; do
  for M in bc acgd; do
    $D distill --method $M "${N[@]}" --no-collect "${OLD[@]}" --seed $SEED \
      --out "$S/students/$M-ss0-s$SEED-dex10-100"
  done
done

# The critic pulling on the action as hard as L_act (--q-norm grad; not
# the default: no gain), three seeds, and with ten times L_act's pull
# (alpha 0.1).
for SEED in 1 2 3; do
  $D distill --method acgd "${N[@]}" --no-collect "${OLD[@]}" --q-norm grad --seed $SEED \
    --out "$S/students/acgd-qg-s$SEED-dex10-100"
done
$D distill --method acgd "${N[@]}" --no-collect "${OLD[@]}" --q-norm grad --alpha 0.1 \
  --out "$S/students/acgd-qg-a0.1-dex10-100"

# 4. Baselines: DAgger on the BC student, vanilla ACT with and without the
#    critic on the same encoder (before start sampling).
$D distill --method dagger "${N[@]}" --no-collect --from "$S/students/bc-ss0-dex10-100" \
  --out "$S/students/dagger-bc-ss0-dex10-100"
$D distill --method act "${N[@]}" --no-collect "${OLD[@]}" --out "$S/students/act-ss0-dex10-100"
$D distill --method act-critic "${N[@]}" --no-collect "${OLD[@]}" --critic-span first \
  --out "$S/students/act-critic-ss0-dex10-100"
$D distill --method dagger --from "$S/students/act-ss0-dex10-100" "${N[@]}" --no-collect \
  --out "$S/students/dagger-act-ss0-dex10-100"
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
  $D distill --method $M --suite dex10 --demos-per-task 500 --session "$S" --no-collect "${OLD[@]}" \
    --out "$S/students/$M-ss0-dex10-500"
done

# opdex (spray-1, spray-2) and bidex (scissors, switch, bottle-cap; two
# hands, 44 actions), each in its own session sessions/<suite>: BC collects
# 100 demonstrations per task and pre-trains that suite's encoder; ACGD
# reuses it.
for X in opdex bidex; do
  $D distill --method bc --suite $X --demos-per-task 100 --session "sessions/$X" --start-share 0 \
    --out "sessions/$X/students/bc-ss0-$X-100"
  $D distill --method acgd --suite $X --demos-per-task 100 --session "sessions/$X" --no-collect \
    --start-share 0 --backbone "sessions/$X/students/bc-ss0-$X-100/student.safetensors" \
    --out "sessions/$X/students/acgd-ss0-$X-100"
  for M in bc acgd; do
    $D eval --policy "sessions/$X/students/$M-ss0-$X-100" --episodes 50
  done
done

# BC and ACGD for dex5-easy and for dex5-hard alone, on the same encoder and
# demonstrations (the report's per-suite table).
for X in dex5-easy dex5-hard; do
  for M in bc acgd; do
    $D distill --method $M --suite $X --demos-per-task 100 --session "$S" --no-collect "${OLD[@]}" \
      --out "$S/students/$M-ss0-$X-100"
    $D eval --policy "$S/students/$M-ss0-$X-100" --episodes 50
  done
done

# Noise-injected demonstrations in their own session sessions/dex10n: the
# experts execute their mean action plus Gaussian noise 0.1, the label stays
# the mean action (reach-hard finds no solved episode under noise). BC
# (seeds 1-3), ACGD (seeds 1 and 2) and ACGD with --q-norm grad (seeds 1-3),
# on the same encoder.
SN=sessions/dex10n
NN=(--suite dex10 --demos-per-task 100 --session "$SN" --no-collect "${OLD[@]}")
$D collect "${T[@]}" --episodes 100 --session "$SN" --action-noise 0.1
$D collect --task reach-hard --episodes 19 --session "$SN" --action-noise 0.1
for M in bc acgd; do
  $D distill --method $M "${NN[@]}"
  $D distill --method $M "${NN[@]}" --seed 2 --out "$SN/students/$M-s2-dex10-100"
done
$D distill --method bc "${NN[@]}" --seed 3 --out "$SN/students/bc-s3-dex10-100"
$D distill --method acgd "${NN[@]}" --q-norm grad --out "$SN/students/acgd-qg-dex10-100"
for SEED in 2 3; do
  $D distill --method acgd "${NN[@]}" --q-norm grad --seed $SEED \
    --out "$SN/students/acgd-qg-s$SEED-dex10-100"
done
for P in "$SN"/students/*-dex10-100/; do
  $D eval --policy "$P" --suite dex10 --episodes 50
done
$D report --session "$SN" --suite dex10

# Start sampling, the default since (--start-share 0.25: a quarter of every
# batch from the episodes' first 8 frames): the shipped BC and ACGD pair
# (seed 1) and seeds 2 and 3; window 16; share 0.5 (BC); with the full
# critic pull (seeds 1-3); DAgger from the new BC student; the 500-demonstration pair
# and the per-suite pairs.
for SEED in 1 2 3; do
  for M in bc acgd; do
    O="$S/students/$M-s$SEED-dex10-100"
    [ $SEED = 1 ] && O="$S/students/$M-dex10-100"
    $D distill --method $M "${N[@]}" --no-collect "${ENC[@]}" --seed $SEED --out "$O"
  done
done
for M in bc acgd; do
  $D distill --method $M "${N[@]}" --no-collect "${ENC[@]}" --start-window 16 \
    --out "$S/students/$M-st25w16-dex10-100"
done
$D distill --method bc "${N[@]}" --no-collect "${ENC[@]}" --start-share 0.5 \
  --out "$S/students/bc-st50-dex10-100"
for SEED in 1 2 3; do
  O="$S/students/acgd-qg-st25-s$SEED-dex10-100"
  [ $SEED = 1 ] && O="$S/students/acgd-qg-st25-dex10-100"
  $D distill --method acgd "${N[@]}" --no-collect "${ENC[@]}" --q-norm grad --seed $SEED --out "$O"
done
$D distill --method dagger "${N[@]}" --no-collect
for M in bc acgd; do
  $D distill --method $M --suite dex10 --demos-per-task 500 --session "$S" --no-collect "${ENC[@]}"
  for X in dex5-easy dex5-hard; do
    $D distill --method $M --suite $X --demos-per-task 100 --session "$S" --no-collect "${ENC[@]}"
    $D eval --policy "$S/students/$M-$X-100" --episodes 50
  done
done

# 5. Evaluation (50 episodes per task, rendered goal images) and the report.
for P in "$S"/students/*-dex10-100/ "$S"/students/*-dex10-500/; do
  $D eval --policy "$P" --suite dex10 --episodes 50
done
$D report --session "$S" --suite dex10

# Inference-time checks, saved apart from each student's own report: the
# expert acting for the first 1 or 4 steps (--expert-lead), and a
# temporal-ensembling decay of 1 instead of 0.1 (--eta).
FOUR=(--task reach-easy --task pose-easy --task key-turn-easy --task key-turn-hard)
for L in 1 4; do
  for P in bc-ss0 acgd-ss0 bc; do
    $D eval --policy "$S/students/$P-dex10-100" "${FOUR[@]}" --episodes 50 --expert-lead $L
  done
done
$D eval --policy "$S/students/acgd-ss0-dex10-500" --task pose-easy --episodes 50 --expert-lead 1
for P in acgd-ss0 bc-ss0 acgd-ss0-s2 bc-ss0-s2 acgd-ss0-s3; do
  $D eval --policy "$S/students/$P-dex10-100" --suite dex10 --episodes 50 --eta 1
done
$D data info "$S" --actions

# The start-sampled ACT pair and DAgger on it (vanilla latent, Table II),
# and PolyTask's lifelong mode over all ten tasks (20 episodes per task and
# stage).
$D distill --method act "${N[@]}" --no-collect "${ENC[@]}"
$D distill --method act-critic "${N[@]}" --no-collect "${ENC[@]}" --critic-span first
$D distill --method dagger --from "$S/students/act-dex10-100" "${N[@]}" --no-collect
for P in act act-critic dagger-act; do
  $D eval --policy "$S/students/$P-dex10-100" --suite dex10 --episodes 50
done
$D distill --method polytask --lifelong --suite dex10 --demos-per-task 100 --session "$S"
$D eval --policy "$S/students/polytask-lifelong-dex10-100" --episodes 20
$D report --session "$S" --suite dex10

# opdex and bidex with start sampling, on the encoders above: the shipped
# pairs (seed 1) and seeds 2 and 3, DAgger from the bidex BC student, and
# the bidex switch checks (expert lead; the expert's actions sit at their
# limits: data info --actions).
for X in opdex bidex; do
  E=(--backbone "sessions/$X/students/bc-ss0-$X-100/student.safetensors")
  for SEED in 1 2 3; do
    for M in bc acgd; do
      O="sessions/$X/students/$M-$X-100"
      [ $SEED = 1 ] || O="sessions/$X/students/$M-s$SEED-$X-100"
      $D distill --method $M --suite $X --demos-per-task 100 --session "sessions/$X" --no-collect \
        "${E[@]}" --seed $SEED --out "$O"
      $D eval --policy "$O" --episodes 50
    done
  done
done
$D distill --method dagger --from sessions/bidex/students/bc-bidex-100 --suite bidex \
  --demos-per-task 100 --session sessions/bidex --no-collect
$D eval --policy sessions/bidex/students/dagger-bc-bidex-100 --episodes 50
# six DAgger rounds instead of two: do more labels at the students' own
# states undo the switch joints' reversal? (--expert-gap below)
$D distill --method dagger --from sessions/bidex/students/bc-bidex-100 --suite bidex \
  --demos-per-task 100 --session sessions/bidex --no-collect --dagger-rounds 6 \
  --out sessions/bidex/students/dagger-r6-bc-bidex-100
$D eval --policy sessions/bidex/students/dagger-r6-bc-bidex-100 --episodes 50
# bidex students trained on rendered goal images (seed 1).
for M in acgd bc; do
  $D distill --method $M --suite bidex --demos-per-task 100 --session sessions/bidex --no-collect \
    --backbone "sessions/bidex/students/bc-ss0-bidex-100/student.safetensors" --train-goal rendered \
    --out "sessions/bidex/students/$M-rg-bidex-100"
  $D eval --policy "sessions/bidex/students/$M-rg-bidex-100" --episodes 50
done
for L in 1 4 10 20; do
  $D eval --policy sessions/bidex/students/bc-ss0-bidex-100 --task switch --episodes 20 --expert-lead $L
done
$D data info sessions/bidex --actions
# where the switch students leave the expert: the expert's action at every
# state they visit (--expert-gap), per step in the trace; and on the
# expert's own states (it acts throughout).
for P in acgd bc acgd-s2 bc-s2 acgd-s3 bc-s3 dagger-bc dagger-r6-bc; do
  $D eval --policy "sessions/bidex/students/$P-bidex-100" --task switch --episodes 50 \
    --expert-gap --trace "sessions/bidex/traces/$P-bidex-100"
done
for P in acgd bc; do
  $D eval --policy "sessions/bidex/students/$P-bidex-100" --task switch --episodes 20 \
    --expert-gap --expert-lead 200
done
# the same on dex10's key-turn tasks, seeds 1-3 of the shipped pair
for P in acgd bc acgd-s2 bc-s2 acgd-s3 bc-s3; do
  $D eval --policy "$S/students/$P-dex10-100" --task key-turn-easy --task key-turn-hard \
    --episodes 50 --expert-gap
done
for X in opdex bidex; do
  $D report --session "sessions/$X" --suite $X
done

# 6. Ship BC and ACGD for opdex and bidex (dex10's pair: at the end, with
#    checkpoint selection).
for M in acgd bc; do
  for X in opdex bidex; do
    mkdir -p assets/students/$M-$X
    cp "sessions/$X/students/$M-$X-100/"{student.json,student.safetensors,losses.csv,eval-$X-rendered.json} \
      assets/students/$M-$X/
  done
done

# Goal images in training: the start-sampled setting trained on each
# demonstration's goal image re-rendered from its seed (--train-goal
# rendered; what eval shows), seeds 1-3 of BC and ACGD. (DAgger above
# already trains its aggregated episodes on the goal image each rollout was
# shown.) The shipped students carry the bc-v0 encoder unchanged, so
# --backbone assets/students/bc-dex10/student.safetensors gives the same
# encoder without training bc-v0 first.
seeds -rg --train-goal rendered
$D report --session "$S" --suite dex10

# Checkpoint selection by validation rollouts (--select-every 1000: after
# every 1000 policy steps, 20 validation episodes of each task with
# demonstrations; the best weights are kept), seeds 1-3 of the
# start-sampled setting above; acgd-dex10-100 and bc-dex10-100 are the same
# runs' last weights.
seeds -sel --select-every 1000
$D report --session "$S" --suite dex10

# Ship the dex10 pair: seed 1 with checkpoint selection.
for M in acgd bc; do
  mkdir -p assets/students/$M-dex10
  cp "$S/students/$M-sel-dex10-100/"{student.json,student.safetensors,losses.csv,selection.json,eval-dex10-rendered.json} \
    assets/students/$M-dex10/
done
