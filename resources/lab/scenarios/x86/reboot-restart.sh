# Without --no-reboot a guest reboot (the i8042 reset line on x86, PSCI SYSTEM_RESET on arm64)
# restarts the VM: the guest reaches its init a second time (a new boot id). ovmm's stdin is
# L1's serial tty, which it puts in raw mode; SIGTERM then stops ovmm with status 143, and the
# tty has the settings it had before.
# lab-timeout: 360
before=$(stty -g < "$L1_TTY")
OVMM_STDIN=tty start_ovmm reboot
wait_for '^OVMM-GUEST-INIT .*' "$OUT" 150
wait_for_count 2 '^OVMM-GUEST-INIT ' "$OUT" 150
note "second boot seen"
during=$(stty -g < "$L1_TTY")
[ "$during" != "$before" ] || fail "the terminal settings did not change while ovmm ran (no raw mode on a TTY stdin?)"
sleep 0.5
kill -TERM "$OVMM_PID"
wait_ovmm 30
expect_rc 143
first=$(tr -d '\r' < "$OUT" | grep '^OVMM-GUEST-INIT ' | sed -n '1s/.* boot=\([^ ]*\).*/\1/p')
second=$(tr -d '\r' < "$OUT" | grep '^OVMM-GUEST-INIT ' | sed -n '2s/.* boot=\([^ ]*\).*/\1/p')
[ -n "$first" ] && [ "$first" != "$second" ] || fail "both boots report boot id '$first'/'$second'"
after=$(stty -g < "$L1_TTY")
[ "$before" = "$after" ] || fail "terminal settings changed: before $before, after $after"
