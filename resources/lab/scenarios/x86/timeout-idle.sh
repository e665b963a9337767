# --timeout 20 on a guest that reached its init and sleeps (its vCPU halted inside KVM_RUN):
# ovmm still stops it at the deadline and exits 124.
# lab-timeout: 240
start_ovmm sleep --timeout 20
wait_for '^OVMM-GUEST-INIT ' "$OUT" 20
wait_ovmm 120
expect_rc 124
expect_grep '[Tt]ime' "$ERR"
expect_between "$SECS" 20 120 "seconds until the timeout stopped ovmm"
