# The guest writes 7 to the test-exit port 0xf4: ovmm exits 7.
# lab-timeout: 240
run_ovmm exit:7
expect_rc 7
expect_grep '^OVMM-GUEST-INIT '
expect_no_grep 'OVMM-GUEST-EXIT-IGNORED'
