# e1000e with --msi off (MSI and MSI-X hidden): DHCP and 3 pings work on INTx, SPI 4
# (INTID 36, level) through the GICv3, no MSI entry.
# lab-timeout: 180
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
vfio_bind 0000:00:0b.0
run_ovmm net --msi off --vfio 0000:00:0b.0
expect_rc 0
expect_grep '^NET-NIC eth0 driver=e1000e$'
expect_grep '^DHCP-BOUND iface=eth0 ip=10\.0\.2\.15 mask=24 '
expect_grep '^PING-RESULT sent=3 received=3$'
expect_grep '^IRQ name=eth0 chip=GICv3 hwirq=36 count=[1-9][0-9]*$'
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=0 mode=none$'
expect_no_grep 'ITS-MSI'
