# L1 on Cortex-A53 cores (ARMv8.0, no VHE: KVM runs in nVHE mode, as on the LS1088A of the Ten64):
# a guest with 2 vCPUs boots, and edu passed through passes every edu check with 5 MSIs (ITS).
# lab-timeout: 240
# lab-l1-cpu: cortex-a53
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
mode=$(l1_kvm_mode)
[ "$mode" = nVHE ] || fail "L1's KVM initialized in '$mode' mode, expected nVHE (Hyp mode)"
vfio_bind 0000:00:0a.0
run_ovmm edu --cpus 2 --vfio 0000:00:0a.0
expect_rc 0
expect_field cpus 2 2
expect_grep '^EDU-RESULT bdf=0000:00:01.0 id=0x010000ed live=ok fact=120 dma=ok irq=msi .* count=5$'
expect_grep '^IRQ name=ovmm_edu chip=ITS-MSI .* count=5$'
