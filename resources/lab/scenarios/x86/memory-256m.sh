# With --memory 256M the guest sees about 256 MiB (MemTotal is RAM minus what the kernel keeps).
# lab-timeout: 240
run_ovmm poweroff --memory 256M
expect_rc 0
expect_field memtotal_kb 180000 262144
