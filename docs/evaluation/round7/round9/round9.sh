set -euo pipefail
cd /work/main
export OMP_WAIT_POLICY=PASSIVE
PY=.venv/bin/python; W=/work/data6
C2="--data $W/train --cache-dir $W/cache2 --train-splits train,test --workers 2 --threads 2 --no-progress"
# round 9: as round 8 (other leg boxed, cache cropped), gentler: 1 epoch at 3e-5
# (detector canvases cropped inside padding bars as in round 7, the round-3 augmentation otherwise unchanged)
$PY -m training.train $C2 --out "$W/M12" --init-from "$W/M7" --parts detector --epochs 1 --lr 3e-5
$PY -m training.export --models "$W/M12" --out "$W/M12x"
