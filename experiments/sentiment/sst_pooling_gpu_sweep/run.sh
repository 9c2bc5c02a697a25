#!/bin/bash
V="s5_sent_max s5_sent_last s5_phr_max s5_phr_last s5_phr_mean s5_phr_max_h300 b_sst2_max b_sst2_last b_phr_max b_phr_last b_sst2_max_h300"
mkdir -p /tmp/sst_out
for v in $V; do
  OMP_NUM_THREADS=1 OUT=/tmp/sst_out python experiments/sentiment/sst_pooling_gpu_sweep/sweep.py $v "{\"max_minutes\": ${MAXMIN:-3.0}}" > /tmp/sst_out/$v.log 2>&1 &
done
sleep 45; tail -qn 1 /tmp/sst_out/*.log
wait
python -c "
import json,glob
r=[json.load(open(f)) for f in sorted(glob.glob('/tmp/sst_out/*.json'))]
json.dump(r, open('$OUT/sst_sweep.json','w'))
for x in r: print(x['name'], x['best_dev'], x['test_at_best'], x['best_step'], x['steps_done'], x['minutes'])
"
tail -qn 3 /tmp/sst_out/*.log | grep -v RESULT | cut -c1-200
