# PUT /vm/pause parks the vCPUs for 4 s, PUT /vm/resume lets them run: the guest, printing its
# clock twice a second, shows a gap of about 4 s between two lines (the arch timer's counter runs
# on while the vCPUs are parked) and keeps printing after it. The power button then ends it.
# lab-timeout: 240
start_ovmm clock --api-socket "$LAB_DIR/api.sock"
wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
api_pause_resume_check
api PUT /vm/power-off
wait_ovmm 120
expect_rc 0
expect_grep '^OVMM-GUEST-POWER-BUTTON$'
