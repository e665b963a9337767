# A device still on its host driver (e1000): ovmm exits 2 with one line naming the device,
# its driver and how to bind it.
# lab-timeout: 60
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
use_driver 0000:00:0c.0 e1000
run_ovmm poweroff --vfio 0000:00:0c.0
expect_rc 2
expect_lines 1 "$ERR"
expect_grep '0000:00:0c\.0 is bound to e1000, not to vfio-pci: run `ovmm host bind 0000:00:0c\.0` first' "$ERR"
use_driver 0000:00:0c.0 ""
run_ovmm poweroff --vfio 0000:00:0c.0
expect_rc 2
expect_lines 1 "$ERR"
expect_grep '0000:00:0c\.0 is bound to no driver, not to vfio-pci' "$ERR"
