# edu and e1000e in one guest (00:01.0 and 00:02.0): the edu checks with 5 MSIs, and DHCP
# plus 3 pings over the e1000e with MSI-X.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0a.0 0000:00:0b.0
run_ovmm edu+net --vfio 0000:00:0a.0 --vfio 0000:00:0b.0
expect_rc 0
expect_grep '^EDU-RESULT bdf=0000:00:01.0 id=0x010000ed live=ok fact=120 dma=ok irq=msi .* count=5$'
expect_grep '^NET-NIC eth0 driver=e1000e$'
expect_grep '^PING-RESULT sent=3 received=3$'
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=1 mode=msi$'
expect_grep '^MSI-MODE bdf=0000:00:02\.0 vectors=3 mode=msix$'
expect_grep '^IRQ name=eth0-rx-0 chip=PCI-MSI hwirq=[0-9]+-edge count=[1-9][0-9]*$'
