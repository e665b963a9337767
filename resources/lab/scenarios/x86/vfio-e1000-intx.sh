# e1000 (no MSI capability at all) passed through with no option: DHCP and 3 pings work on
# INTx, GSI 17 through the IO-APIC.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0c.0
run_ovmm net --vfio 0000:00:0c.0
expect_rc 0
expect_grep '^NET-NIC eth0 driver=e1000$'
expect_grep '^DHCP-BOUND iface=eth0 ip=10\.0\.2\.15 '
expect_grep '^PING-RESULT sent=3 received=3$'
expect_grep '^IRQ name=eth0 chip=IO-APIC hwirq=17-fasteoi count=[1-9][0-9]*$'
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=0 mode=none$'
expect_no_grep 'PCI-MSI'
