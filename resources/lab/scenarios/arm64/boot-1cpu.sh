# The guest reaches its init with 1 vCPU and 512 MiB: it sees exactly one CPU and about 512 MiB.
# lab-timeout: 180
run_ovmm poweroff --cpus 1 --memory 512M
expect_rc 0
expect_field cpus 1 1
expect_field memtotal_kb 380000 524288
