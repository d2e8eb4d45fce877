set -euo pipefail
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; W=/work/data6
C2="--data $W/train --cache-dir $W/cache2 --train-splits train,test --workers 2 --threads 2 --no-progress"
# round 5: the detector again, field-of-view crops cut at the regions and zoomed out (training/augment.fov_crop)
$PY -m training.train $C2 --out "$W/M8" --init-from "$W/M7" --parts detector --epochs 2 --lr 1e-4 --fov-anatomical 0.4 --fov-zoom-out 0.5
$PY -m training.export --models "$W/M8" --out "$W/M8x"
