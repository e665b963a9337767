# e1000e passed through: the stock driver binds, DHCP from QEMU's user network, 3 pings of
# the gateway answered, interrupts by MSI-X (rx and tx vectors with non-zero counts). Logs the
# -v exit summary (the measurement of userspace exits during the ping run).
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0b.0
run_ovmm net --vfio 0000:00:0b.0 -v
exit_summary
expect_rc 0
expect_grep '^NET-NIC eth0 driver=e1000e$'
expect_grep '^DHCP-BOUND iface=eth0 ip=10\.0\.2\.15 mask=24 '
expect_grep '^PING-RESULT sent=3 received=3$'
expect_grep '^IRQ name=eth0-rx-0 chip=PCI-MSI hwirq=[0-9]+-edge count=[1-9][0-9]*$'
expect_grep '^IRQ name=eth0-tx-0 chip=PCI-MSI hwirq=[0-9]+-edge count=[1-9][0-9]*$'
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=3 mode=msix$'
expect_no_grep '^IRQ name=eth0 chip=IO-APIC'
