#!/usr/bin/env bash
# interrupt.sh STC SIGNAL ARTIFACT DATA CKPT: starts a long `stc train`,
# sends SIGNAL once the first step is printed, and reports the exit status.
set -u
stc="$1" signal="$2" model="$3" data="$4" ckpt="$5"
log="$ckpt.log"
"$stc" train "$model" --data "$data" --device cpu --steps 1000000 \
  --log-every 1 --save "$ckpt" >"$log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  grep -q '^step' "$log" 2>/dev/null && break
  sleep 0.1
done
kill "-$signal" "$pid"
wait "$pid"
echo "exit status $?"
cat "$log"
