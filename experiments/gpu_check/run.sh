#!/bin/bash
# bash experiments/gpu_check/run.sh   (on the GPU machine, after prepare.sh here; carry .device)
#
# Installs the carried site folder and this package (no network), then runs check-gpu on the
# carried corpora; the report goes to $OUT (and reports/gpu/ when run from a checkout).
set -euo pipefail
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
mkdir -p /tmp/site && tar xzf .device/gpu_site.tgz -C /tmp/site
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . > /dev/null
python3 -c "import cupy, spacy, torch; print('cupy', cupy.__version__, 'spacy', spacy.__version__, 'torch', torch.__version__)"
python3 -m spacy_rnn_lab check-gpu "${OUT:-reports/gpu}" --gpu-id 0 --corpus-root .device/corpus \
  --lm-train .device/corpus/ptb.train.txt --lm-dev .device/corpus/ptb.valid.txt 2>&1 | tee "${OUT:-reports/gpu}/check_gpu.log"
