# --vfio DEVICE,managed=on: ovmm binds the device (an e1000 on the host's e1000 driver) to
# vfio-pci for the run and gives it back to e1000 afterwards; the guest sees the device.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
B=0000:00:0c.0
use_driver "$B" e1000
[ "$(driver_of "$B")" = e1000 ] || fail "setup: $B is on '$(driver_of "$B")', expected e1000"
start_ovmm shell --vfio $B,managed=on -v
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
during=$(driver_of "$B")
sleep 1
send_line 'echo SEEN-DEVS $(cat /sys/bus/pci/devices/*/device | tr "\n" " ")'
wait_for '^SEEN-DEVS ' "$OUT" 30
send_line 'poweroff -f'
wait_ovmm 60
expect_rc 0
[ "$during" = vfio-pci ] || fail "while the VM ran $B was on '$during', expected vfio-pci"
expect_grep '^SEEN-DEVS .*0x100e'
after=$(driver_of "$B")
[ "$after" = e1000 ] || fail "after the run $B is on '$after', expected e1000 again"
expect_grep 'managed=on' "$ERR"
