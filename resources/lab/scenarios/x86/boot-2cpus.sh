# The guest reaches its init with 2 vCPUs and sees both CPUs online.
# lab-timeout: 240
run_ovmm poweroff --cpus 2
expect_rc 0
expect_field cpus 2 2
