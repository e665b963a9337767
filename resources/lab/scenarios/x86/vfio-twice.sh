# The same device (edu) in two ovmm runs one after the other: both runs pass every edu
# check, so the first run's teardown left the device and its group usable.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0a.0
for i in 1 2; do
  run_ovmm edu --vfio 0000:00:0a.0
  expect_rc 0
  expect_grep '^EDU-RESULT bdf=0000:00:01.0 id=0x010000ed live=ok fact=120 dma=ok irq=msi .* count=5$'
done
[ "$(driver_of 0000:00:0a.0)" = vfio-pci ] || fail "0000:00:0a.0 is no longer on vfio-pci after two runs"
