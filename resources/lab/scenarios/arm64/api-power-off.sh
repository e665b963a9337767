# The control API on a real arm64 guest: GET /vm shows it running with its boot time (the guest
# init wrote the boot-timer register), then PUT /vm/power-off presses the power button (ovmm's
# PL061 GPIO line 3, a gpio-keys KEY_POWER in the device tree): the guest sees KEY_POWER, powers
# off through PSCI SYSTEM_OFF, ovmm exits 0 and removes its socket.
# lab-timeout: 240
start_ovmm sleep --api-socket "$LAB_DIR/api.sock" -v
wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
api_power_off_check
