# The guest reaches its init with 1 vCPU and sees exactly one CPU.
# lab-timeout: 240
run_ovmm poweroff --cpus 1
expect_rc 0
expect_field cpus 1 1
