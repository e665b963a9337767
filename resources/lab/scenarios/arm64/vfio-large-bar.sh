# A 32 GiB BAR (ivshmem-plain) passed through: ovmm sizes the 64-bit window from the device
# (bounded by the IPA size), places the BAR at natural alignment above RAM, maps it into the
# guest, and the guest reads back what it wrote at both ends.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
B=0000:00:0e.0
vfio_bind "$B"
large_bar_check "$B"
