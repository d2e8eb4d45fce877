#!/usr/bin/env bash
# Evaluate the bundle of the version-6 round (docs/EVALUATION.md): generalization table, the paper's tables on
# version 6's held-out set, the real ankle radiograph, realism of the exports, contact sheet.
# Usage: bash docs/dev/eval_v6.sh WORKDIR [OLD_BUNDLE]   (WORKDIR holds the rendered held-out sets)
set -euo pipefail
W=${1:?work folder}
PY=${PY:-.venv/bin/python}
export OMP_WAIT_POLICY=PASSIVE
$PY -m training.generalization --models resources/models/demo --out docs/evaluation/generalization --work "$W" \
    --count 20 --threads 2 --title "The bundled model on every generator version and export format"
if [ -n "${2:-}" ]; then
  $PY -m training.generalization --models "$2" --out docs/evaluation/generalization/before --work "$W" \
      --count 20 --threads 2 --title "Before: the version-5 bundle on the same sets"
fi
$PY -m training.evaluate --data "$W/v6-native" --models resources/models/demo --out docs/evaluation --split all \
    --threads 2 --title "Bundled model on 20 held-out generator-version-6 studies (seed 9006, half size)"
$PY -m training.real_check --models resources/models/demo --out docs/evaluation/rg3
$PY ../shared/tools/realism.py --crop "$W"/v6-bilateral/images/* > docs/evaluation/realism_bilateral.txt
$PY ../shared/tools/realism.py "$W"/v6-single_leg/images/* > docs/evaluation/realism_single_leg.txt
$PY -m llm_viewer.synth.contact_sheet docs/synthetic_contact_sheet.png
# Round 3 additions: per-view table, ranking on a mixed pool, OOD images (G = the held-out sets of --work)
G=$W
$PY -m training.views_eval --models resources/models/demo --data $G/v6-native $G/v4-native \
    --single-leg $G/v6-single_leg $G/v2-single_leg --limit 12 --out docs/evaluation/views --threads 2
# Stop 27: the same views of versions 5 and 3 (not used to tune the partial-view rules), and detection alone
mkdir -p /tmp/views_v5_v3 && $PY -m training.views_eval --models resources/models/demo --data $G/v5-native $G/v3-native \
    --single-leg $G/v5-single_leg $G/v3-single_leg --limit 12 --out /tmp/views_v5_v3 --threads 2 \
    && cp /tmp/views_v5_v3/views.md docs/evaluation/views/views_v5_v3.md
$PY docs/dev/partial_view_check.py $G/v6-native $G/v4-native $G/v2-native --count 20 > docs/evaluation/views/partial_view_check.md
$PY -m training.degrade $G/v6-native $G/degraded 5
$PY -m training.ranking_eval --models resources/models/demo --out docs/active_learning/ranking --threads 2 --pool \
    $G/v6-native:6 $G/degraded/v6-native-gamma-noise:4 $G/degraded/v6-native-downscale-blur:4 \
    $G/degraded/v6-native-lowcontrast-noise:4 $G/v6-bilateral:5 $G/v2-bilateral:5 $G/v6-single_leg:5 \
    $G/v2-single_leg:5 $G/v1-native:5 $G/v4-native:5
.venv/bin/python docs/dev/ood_check.py resources/models/demo $G/v6-native $G/v4-native $G/v2-native > docs/evaluation/ood.md
