# edu passed through at guest 00:01.0: the guest's edu driver reads the ID, checks liveness,
# computes 5!, does a DMA round trip through the SMMU (IOVA = guest physical address, RAM above
# the SMMU's MSI hole) and counts 5 interrupts delivered by MSI through the vITS.
# lab-timeout: 180
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
vfio_bind 0000:00:0a.0
run_ovmm edu --vfio 0000:00:0a.0
expect_rc 0
expect_grep '^EDU-RESULT bdf=0000:00:01.0 id=0x010000ed live=ok fact=120 dma=ok irq=msi .* count=5$'
expect_grep '^IRQ name=ovmm_edu chip=ITS-MSI .* count=5$'
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=1 mode=msi$'
expect_no_grep 'EDU-FAIL|EDU-INSMOD-FAILED'
