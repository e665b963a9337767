# With --memory 2G the guest sees about 2 GiB.
# lab-timeout: 240
run_ovmm poweroff --memory 2G
expect_rc 0
expect_field memtotal_kb 1900000 2097152
