# edu with intx=on (MSI hidden): the same checks, the 5 interrupts arrive by INTx on GSI 17
# (slot 1: 16 + 1) through the IO-APIC.
# lab-timeout: 180
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0a.0
run_ovmm edu --vfio 0000:00:0a.0,intx=on
expect_rc 0
expect_grep '^EDU-RESULT bdf=0000:00:01.0 id=0x010000ed live=ok fact=120 dma=ok irq=intx linux_irq=[0-9]+ count=5$'
expect_grep '^IRQ name=ovmm_edu chip=IO-APIC hwirq=17-fasteoi count=5$'
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=0 mode=none$'
expect_no_grep 'PCI-MSI'
