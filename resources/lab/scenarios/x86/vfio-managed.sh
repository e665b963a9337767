# --vfio DEVICE,managed=on: ovmm binds the device (here e1000, on the host's e1000 driver) to
# vfio-pci for the run and gives it back to e1000 afterwards; the guest sees the device.
# lab-timeout: 240
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
B=0000:00:0c.0
d=/sys/bus/pci/devices/$B
modprobe e1000 2>/dev/null
[ "$(basename "$(readlink $d/driver)")" = e1000 ] || { echo $B > /sys/bus/pci/drivers/e1000/bind 2>/dev/null; }
before=$(basename "$(readlink $d/driver)")
[ "$before" = e1000 ] || fail "setup: $B is on '$before', expected e1000"
start_ovmm shell --vfio $B,managed=on -v
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
during=$(basename "$(readlink $d/driver)")
sleep 1
send_line 'echo SEEN-DEVS $(cat /sys/bus/pci/devices/*/device | tr "\n" " ")'
wait_for '^SEEN-DEVS ' "$OUT" 30
send_line 'poweroff -f'
wait_ovmm 60
expect_rc 0
[ "$during" = vfio-pci ] || fail "while the VM ran $B was on '$during', expected vfio-pci"
expect_grep '^SEEN-DEVS .*0x100e'
after=$(basename "$(readlink $d/driver)")
[ "$after" = e1000 ] || fail "after the run $B is on '$after', expected e1000 again"
expect_grep 'managed=on' "$ERR"
