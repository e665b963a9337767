# A device with FLR (virtio-rng behind a PCIe root port: sysfs reset_method "flr bus") is reset
# by VFIO_DEVICE_RESET, which the kernel does with FLR, at start and at exit (logged with -v).
# lab-timeout: 240
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
# lab-l1-args: -device e1000,addr=0f.0,multifunction=on,netdev=m0 -netdev user,id=m0,restrict=on
# lab-l1-args: -device e1000,addr=0f.1,netdev=m1 -netdev user,id=m1,restrict=on
# lab-l1-args: -device pcie-root-port,id=rp1,bus=pcie.0,addr=10.0,chassis=1
# lab-l1-args: -device virtio-rng-pci,bus=rp1
B=
for d in /sys/bus/pci/devices/*; do
  [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1005 ] || [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1044 ] && B=${d##*/}
done
[ -n "$B" ] || fail "no virtio-rng device in L1"
note "$B reset_method: $(cat /sys/bus/pci/devices/$B/reset_method 2>&1)"
vfio_bind "$B"
run_ovmm poweroff --vfio "$B" -v
expect_rc 0
expect_grep "$B: reset at start by function reset \(VFIO_DEVICE_RESET; the kernel.s method: flr" "$ERR"
expect_grep "$B: reset at exit by function reset \(VFIO_DEVICE_RESET; the kernel.s method: flr" "$ERR"
