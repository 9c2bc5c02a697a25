#!/bin/bash
# bash experiments/ner/gpu_sweeps/run.sh [VARIANT ...]   (on the GPU machine; OUT=<output folder>, MAXMIN=<cap>)
nvidia-smi --query-gpu=name,memory.used --format=csv
V="${*:-base avg avg_seed1 avg_h200_d1 avg_h200_d2 avg_h150_d2 avg_glove_init avg_lr004 avg_char100 avg_12k}"
for v in $V; do
  OMP_NUM_THREADS=1 python experiments/ner/gpu_sweeps/sweep.py $v "{\"max_minutes\": ${MAXMIN:-7.0}}" > $OUT/$v.log 2>&1 &
done
sleep 60; tail -n 2 $OUT/*.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
wait
grep -h RESULT $OUT/*.log
