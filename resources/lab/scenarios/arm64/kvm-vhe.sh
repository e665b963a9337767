# L1 with the default CPU (max,pauth=off, ARMv8.x with VHE) runs KVM in VHE mode, and a guest
# with 2 vCPUs boots to its init on it and powers off.
# lab-timeout: 180
mode=$(l1_kvm_mode)
[ "$mode" = VHE ] || fail "L1's KVM initialized in '$mode' mode, expected VHE"
run_ovmm poweroff --cpus 2
expect_rc 0
expect_field cpus 2 2
