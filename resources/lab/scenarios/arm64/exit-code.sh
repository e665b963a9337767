# The guest writes 7 to the test-exit register (devmem 0x09020000, TEST_EXIT_START): ovmm exits 7.
# lab-timeout: 180
run_ovmm exit:7
expect_rc 7
expect_grep '^OVMM-GUEST-INIT '
expect_no_grep 'OVMM-GUEST-EXIT-IGNORED'
