set -euo pipefail
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; W=/work/data6
C2="--data $W/train --cache-dir $W/cache2 --train-splits train,test --workers 2 --threads 2 --no-progress"
# round 8: as round 7, with the other leg's ROI boxes added to the one-leg exports (synth.export.other_leg_rois)
# (detector canvases cropped inside padding bars as in round 7, the round-3 augmentation otherwise unchanged)
$PY -m training.train $C2 --out "$W/M11" --init-from "$W/M7" --parts detector --epochs 2 --lr 1e-4
$PY -m training.export --models "$W/M11" --out "$W/M11x"
