# Two e1000 behind one PCI bridge share an IOMMU group; with only one on vfio-pci the group is
# not viable: ovmm exits 2 with one line naming the device, the group and the other member.
# lab-timeout: 60
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
use_driver 0000:01:02.0 e1000
vfio_bind 0000:01:01.0
group=$(basename "$(readlink /sys/bus/pci/devices/0000:01:01.0/iommu_group)")
run_ovmm poweroff --vfio 0000:01:01.0
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "IOMMU group $group of 0000:01:01\\.0 is not viable: it also holds .*0000:01:02\\.0" "$ERR"
