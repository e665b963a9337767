# The guest powers off (poweroff -f, PSCI SYSTEM_OFF): ovmm exits 0 after the guest reached its
# init once.
# lab-timeout: 180
run_ovmm poweroff
expect_rc 0
expect_count 1 '^OVMM-GUEST-INIT '
