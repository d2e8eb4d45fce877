#!/usr/bin/env bash
# The domain-gap data of docs/ACTIVE_LEARNING.md ("Adapting to a new domain"): studies rendered by generator
# version 4 (commit 7ba91a2, extracted with `git archive`, which changes nothing in the repository), exported as
# single-leg clinical crops (128 x 1024, black bars, CLAHE) by this checkout's llm_viewer.synth.export through
# training.generalization.export_store (which also keeps each export's ROI boxes, for training).
#   pool: 50 studies, seed 4100 -> 96 single-leg images;  test: 20 studies, seed 9004 -> 39 images
#   (the test set is the v4 single_leg set of docs/evaluation/generalization/table.md).
set -euo pipefail
W=${W:-/tmp/adapt}
PY=${PY:-python}
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
mkdir -p "$W/v4src" "$W/data"
git -C "$REPO" archive 7ba91a2633917fa291dce178fc4fce9a2ee71069 llm_viewer | tar -x -C "$W/v4src"
(cd "$W/v4src" && PYTHONPATH="$W/v4src" $PY -m llm_viewer.cli synth --count 20 --seed 9004 --size half \
    --out "$W/data/v4_test_native" --no-progress --workers 1)
(cd "$W/v4src" && PYTHONPATH="$W/v4src" $PY -m llm_viewer.cli synth --count 50 --seed 4100 --size half \
    --out "$W/data/v4_pool_native" --no-progress --workers 1)
cd "$REPO"
PYTHONPATH="$REPO" $PY -c "
from pathlib import Path
from training.generalization import export_store
export_store(Path('$W/data/v4_test_native'), Path('$W/data/v4_test_single'), 'single_leg', 9004)
export_store(Path('$W/data/v4_pool_native'), Path('$W/data/v4_pool_single'), 'single_leg', 4100)
"
