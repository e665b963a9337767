# The guest reaches its init with 2 vCPUs (the second started through PSCI CPU_ON) and sees both
# online.
# lab-timeout: 180
run_ovmm poweroff --cpus 2
expect_rc 0
expect_field cpus 2 2
