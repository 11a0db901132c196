#!/bin/sh
# usage: measure.sh SECONDS, in a directory holding tsdb/ (gen.py), old.yaml and new.yaml
# (split.py RULES old.yaml new.yaml): runs Prometheus on each (ports 19090 and 19091) side by
# side on copies of tsdb/, and samples their rule-group durations and CPU every 15 s into
# samples.txt.
for v in old new; do printf 'global:\n  scrape_interval: 1h\nrule_files: [%s.yaml]\n' $v > prom-$v.yml; done
rm -rf tsdb-old tsdb-new; cp -a tsdb tsdb-old; cp -a tsdb tsdb-new
prometheus --config.file=prom-old.yml --storage.tsdb.path=tsdb-old --web.listen-address=127.0.0.1:19090 --storage.tsdb.retention.time=30d > old.log 2>&1 &
echo $! > old.pid
prometheus --config.file=prom-new.yml --storage.tsdb.path=tsdb-new --web.listen-address=127.0.0.1:19091 --storage.tsdb.retention.time=30d > new.log 2>&1 &
echo $! > new.pid
sleep 30
end=$(( $(date +%s) + $1 ))
while [ $(date +%s) -lt $end ]; do
  for p in 19090 19091; do
    curl -s "http://127.0.0.1:$p/metrics" | grep -E '^prometheus_rule_group_last_duration_seconds|^process_cpu_seconds_total|^prometheus_rule_group_iterations_total|^prometheus_rule_evaluation_failures_total' | sed "s/^/$(date +%s) $p /" >> samples.txt
  done
  sleep 15
done
kill $(cat old.pid) $(cat new.pid)
