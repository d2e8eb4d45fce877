#!/usr/bin/env bash
# The version-6 round of the bundled model (docs/EVALUATION.md, "This round"): data, then a fine-tuning chain
# from the version-5 bundle with the lite preset's domain randomization and field-of-view crops.
# Usage: bash docs/dev/train_v6.sh WORKDIR   (rounds 1-3: about 3 h on 2 CPU cores shared with other work)
set -euo pipefail
W=${1:?work folder}
PY=${PY:-.venv/bin/python}
mkdir -p "$W"
# 300 half-size studies (seed 101) and one clinical export of each (8-bit PNG/JPEG 250-3000 px, single-leg crops)
[ -f "$W/train/manifest.jsonl" ] || $PY -m llm_viewer.cli synth --count 300 --seed 101 --size half --exports 1 \
    --workers 2 --out "$W/train" --no-progress
C="--data $W/train --cache-dir $W/cache --train-splits train,test --workers 2 --threads 2 --no-progress"
$PY -m training.train $C --out "$W/M1" --init-from resources/models/demo --parts detector --epochs 2 --lr 1e-4
$PY -m training.train $C --out "$W/M2" --init-from "$W/M1" --parts hip,knee,ankle,diaphysis,refine_hip,refine_knee,refine_ankle --epochs 3 --lr 5e-4
$PY -m training.train $C --out "$W/M3" --init-from "$W/M2" --parts detector --epochs 1 --lr 5e-5
# Round 2 (trained and evaluated; its detector fired on background, so it was not shipped alone): one more
# single-leg-heavy clinical export of each study (90 % single-leg crops), then the detector
# and the landmark models again on the enlarged store (the round-1 bundle measured 30 % of single-leg crops).
$PY -m llm_viewer.cli synth --count 300 --seed 101 --size half --exports 2 --exports-only --single-leg-rate 0.9 \
    --workers 2 --out "$W/train" --no-progress
C2="--data $W/train --cache-dir $W/cache2 --train-splits train,test --workers 2 --threads 2 --no-progress"
$PY -m training.train $C2 --out "$W/M4" --init-from "$W/M3" --parts detector --epochs 2 --lr 1e-4
$PY -m training.train $C2 --out "$W/M5" --init-from "$W/M4" --parts hip,knee,ankle,refine_hip,refine_knee,refine_ankle --epochs 2 --lr 3e-4
# Round 3 (shipped, sgr-lite-1 of docs/EVALUATION.md "Round 3"): the round-2 landmark models (M5) with the detector
# fine-tuned again with negative views (training/negatives.py, p = 0.1) ...
$PY -m training.train $C2 --out "$W/M6" --init-from "$W/M5" --parts detector --epochs 2 --lr 1e-4
# ... and once more with field-of-view crops down to 10 % of the film's height (a knee or an ankle alone), p = 0.4
$PY -m training.train $C2 --out "$W/M7" --init-from "$W/M6" --parts detector --epochs 2 --lr 1e-4
$PY -m training.export --models "$W/M7" --out "$W/M7x"
$PY -m training.calibrate --models "$W/M7x" --data /work/gen/v5-native --data2 /work/gen/v3-native /work/gen/cal-v6 --out "$W/M7x"
# cal-v6: llm-viewer synth --count 30 --seed 7006 --size half --exports 1 --out /work/gen/cal-v6
# Stop 28's calibration of the shipped bundle (a low-resolution class, docs/CALIBRATION.md): two more stores
# llm-viewer synth --count 8 --seed 7106 --out /work/gen/cal-v6-full
# llm-viewer synth --count 30 --seed 7006 --size half --exports 2 --exports-only --single-leg-rate 0.9 --out /work/gen/cal-v6-lowres
# $PY -m training.calibrate --models resources/models/demo --data /work/gen/v5-native --data2 /work/gen/v3-native \
#     /work/gen/cal-v6 /work/gen/cal-v6-full /work/gen/cal-v6-lowres --out resources/models/demo
# Rounds 5 and 6 (trained, not shipped: docs/EVALUATION.md "Rounds 5 and 6"): docs/evaluation/rounds56/round5.sh, round6.sh
