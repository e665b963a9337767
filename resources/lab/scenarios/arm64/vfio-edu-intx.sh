# edu with --msi off (no MSI capability in the guest's config space, no pci=nomsi): the same
# checks, the 5 interrupts arrive by INTx on SPI 4 (slot 1, pin A: INTID 36, level) through the
# GICv3, with KVM's resample fd.
# lab-timeout: 180
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
vfio_bind 0000:00:0a.0
run_ovmm edu --msi off --vfio 0000:00:0a.0
expect_rc 0
expect_grep '^EDU-RESULT bdf=0000:00:01.0 id=0x010000ed live=ok fact=120 dma=ok irq=intx linux_irq=[0-9]+ count=5$'
expect_grep '^IRQ name=ovmm_edu chip=GICv3 hwirq=36 count=5$'
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=0 mode=none$'
expect_no_grep 'ITS-MSI'
