# The guest powers off (poweroff -f): ovmm exits 0 after the guest reached its init.
# lab-timeout: 240
run_ovmm poweroff
expect_rc 0
expect_count 1 '^OVMM-GUEST-INIT '
