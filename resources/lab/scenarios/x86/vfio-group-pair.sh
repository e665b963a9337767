# Two e1000 behind one PCI bridge share an IOMMU group: one passed alone while the other is on
# its host driver is refused (exit 2, one line naming the other member, its driver and the fix);
# both together boot one guest whose stock e1000 driver probes both, and a bus hot reset (no
# function reset exists for them) resets the pair once at start and once at exit. One alone
# with the other on vfio-pci and unused is accepted.
# lab-timeout: 300
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
A=0000:01:01.0
B=0000:01:02.0
use_driver "$B" e1000
vfio_bind "$A"
group=$(basename "$(readlink /sys/bus/pci/devices/$A/iommu_group)")
run_ovmm poweroff --vfio "$A"
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "IOMMU group $group of 0000:01:01\.0 is not viable: it also holds 0000:01:02\.0 \(driver e1000\); .*ovmm host bind 0000:01:01\.0.* pass the others too \(--vfio 0000:01:02\.0\)" "$ERR"
vfio_bind "$B"
run_ovmm nics --vfio "$A" --vfio "$B" -v
expect_rc 0
expect_grep '^NIC name=eth[01] driver=e1000 bdf=0000:00:01\.0 header=00$'
expect_grep '^NIC name=eth[01] driver=e1000 bdf=0000:00:02\.0 header=00$'
expect_grep '0000:01:01\.0: reset at start by bus hot reset \(VFIO_DEVICE_PCI_HOT_RESET\) of 0000:01:01\.0, 0000:01:02\.0$' "$ERR"
expect_grep '0000:01:02\.0: reset at start with the bus hot reset above$' "$ERR"
expect_grep '0000:01:01\.0: reset at exit by bus hot reset \(VFIO_DEVICE_PCI_HOT_RESET\) of 0000:01:01\.0, 0000:01:02\.0$' "$ERR"
expect_no_grep '(WARN|ERROR)' "$ERR"
run_ovmm poweroff --vfio "$A" -v
expect_rc 0
expect_grep '0000:01:01\.0: reset at start by bus hot reset' "$ERR"
