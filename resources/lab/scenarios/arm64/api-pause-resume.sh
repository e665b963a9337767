# PUT /vm/pause parks the vCPUs for 4 s, PUT /vm/resume lets them run: the guest, printing its
# clock twice a second, shows a gap of about 4 s between two lines (the arch timer's counter runs
# on while the vCPUs are parked) and keeps printing after it. The power button then ends it.
# lab-timeout: 240
start_ovmm clock --api-socket "$LAB_DIR/api.sock"
wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
wait_for_count 3 '^OVMM-GUEST-CLOCK ' "$OUT" 60
api PUT /vm/pause
[ "$API_RC" = 0 ] || fail "PUT /vm/pause failed: $(cat "$API_OUT")"
paused_at=$(tr -d '\r' < "$OUT" | grep -c '^OVMM-GUEST-CLOCK ')
api GET /vm
[ "$(json_field state)" = paused ] || fail "state while paused is '$(json_field state)'"
api PUT /vm/pause
[ "$API_RC" = 1 ] && grep -q 'already paused' "$API_OUT" || fail "a second pause was not refused"
api PUT /vm/power-off
[ "$API_RC" = 1 ] || fail "PUT /vm/power-off while paused was not refused: $(cat "$API_OUT")"
sleep 4
still=$(tr -d '\r' < "$OUT" | grep -c '^OVMM-GUEST-CLOCK ')
[ "$still" -le $((paused_at + 1)) ] || fail "the guest printed $((still - paused_at)) clock lines while paused"
api PUT /vm/resume
[ "$API_RC" = 0 ] || fail "PUT /vm/resume failed: $(cat "$API_OUT")"
wait_for_count $((still + 3)) '^OVMM-GUEST-CLOCK ' "$OUT" 60
# the largest gap between consecutive guest clock readings
gap=$(tr -d '\r' < "$OUT" | sed -n 's/^OVMM-GUEST-CLOCK n=[0-9]* uptime=\([0-9.]*\)$/\1/p' |
  awk 'NR > 1 && $1 - prev > max { max = $1 - prev } { prev = $1 } END { printf "%.2f", max }')
note "PAUSE-GAP largest gap between guest clock lines: $gap s (paused 4 s)"
expect_between "$gap" 3.5 30 "largest guest clock gap"
api PUT /vm/power-off
wait_ovmm 120
expect_rc 0
expect_grep '^OVMM-GUEST-POWER-BUTTON$'
