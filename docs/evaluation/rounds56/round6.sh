set -euo pipefail
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; W=/work/data6
C2="--data $W/train --cache-dir $W/cache2 --train-splits train,test --workers 2 --threads 2 --no-progress"
# round 6 (control of round 5): bands cut at the regions, no zoom-out
$PY -m training.train $C2 --out "$W/M9" --init-from "$W/M7" --parts detector --epochs 2 --lr 1e-4 --fov-anatomical 0.4 --fov-zoom-out 0
$PY -m training.export --models "$W/M9" --out "$W/M9x"
