# --timeout on a guest that reached its init and sleeps (its vCPU halted inside KVM_RUN):
# ovmm still stops it at the deadline and exits 124. The deadline (60 s) leaves a loaded
# machine time to boot the guest first; the check is that the idle guest is stopped at all.
# lab-timeout: 300
start_ovmm sleep --timeout 60
wait_for '^OVMM-GUEST-INIT ' "$OUT" 60
wait_ovmm 180
expect_rc 124
expect_grep '[Tt]ime' "$ERR"
expect_between "$SECS" 60 180 "seconds until the timeout stopped ovmm"
