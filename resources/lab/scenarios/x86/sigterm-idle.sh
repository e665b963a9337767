# SIGTERM while the guest sleeps at its init (vCPU halted): ovmm stops and exits 143.
# lab-timeout: 240
start_ovmm sleep
wait_for '^OVMM-GUEST-INIT ' "$OUT" 150
sleep 1
kill -TERM "$OVMM_PID"
wait_ovmm 30
expect_rc 143
