# The guest reboots (PSCI SYSTEM_RESET) and ovmm runs with --no-reboot: ovmm exits 0 after one
# boot.
# lab-timeout: 180
run_ovmm reboot --no-reboot
expect_rc 0
expect_count 1 '^OVMM-GUEST-INIT '
