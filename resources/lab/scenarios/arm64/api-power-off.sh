# The control API on a real arm64 guest: GET /vm shows it running with its boot time (the guest
# init wrote the boot-timer register), then PUT /vm/power-off presses the power button (ovmm's
# PL061 GPIO line 3, a gpio-keys KEY_POWER in the device tree): the guest sees KEY_POWER, powers
# off through PSCI SYSTEM_OFF, ovmm exits 0 and removes its socket.
# lab-timeout: 240
start_ovmm sleep --api-socket "$LAB_DIR/api.sock" -v
wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
api GET /vm
[ "$API_RC" = 0 ] || fail "GET /vm failed: $(cat "$API_OUT")"
[ "$(json_field state)" = running ] || fail "state is '$(json_field state)', expected running"
[ "$(json_field boots)" = 1 ] || fail "boots is '$(json_field boots)', expected 1"
boot_ms=$(json_field boot_time_ms)
expect_between "$boot_ms" 1 200000 "boot_time_ms"
expect_grep "boot timer: the guest reached userspace $boot_ms ms" "$ERR"
note "BOOT-TIMER boot_time_ms=$boot_ms"
api PUT /vm/power-off
[ "$API_RC" = 0 ] || fail "PUT /vm/power-off failed: $(cat "$API_OUT")"
expect_grep 'pressed the power button' "$API_OUT"
wait_ovmm 120
expect_rc 0
expect_grep '^OVMM-GUEST-POWER-BUTTON$'
expect_grep 'the guest powered off' "$ERR"
[ ! -e "$LAB_DIR/api.sock" ] || fail "the API socket is still there after ovmm exited"
