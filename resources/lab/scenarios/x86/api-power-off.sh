# The control API on a real Linux guest: GET /vm shows it running with its boot time (the guest
# init wrote the boot-timer port), then PUT /vm/power-off presses the ACPI power button (GED ->
# PNP0C0C): the guest sees KEY_POWER, powers off, ovmm exits 0 and removes its socket.
# lab-timeout: 240
start_ovmm sleep --api-socket "$LAB_DIR/api.sock" -v
wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
api_power_off_check
