set -euo pipefail
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; W=/work/data6
C2="--data $W/train --cache-dir $W/cache2 --train-splits train,test --workers 2 --threads 2 --no-progress"
# round 7: the shipped round-3 detector (M7) fine-tuned on a cache whose detector canvases are the content inside
# padding bars (crop.detection_crop, as inference now runs it), the round-3 augmentation otherwise unchanged
$PY -m training.train $C2 --out "$W/M10" --init-from "$W/M7" --parts detector --epochs 2 --lr 1e-4
$PY -m training.export --models "$W/M10" --out "$W/M10x"
