# Device reset, logged with -v: the e1000e gets a function reset (VFIO_DEVICE_RESET, which the
# kernel does by PM reset: its sysfs reset_method is "pm") when the VM starts and when it ends;
# edu has no reset at all and the log says so and why.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0a.0 0000:00:0b.0
note "L1 reset_method of 0000:00:0b.0: $(cat /sys/bus/pci/devices/0000:00:0b.0/reset_method 2>&1)"
run_ovmm poweroff --vfio 0000:00:0a.0 --vfio 0000:00:0b.0 -v
expect_rc 0
expect_grep '0000:00:0b\.0: reset at start by function reset \(VFIO_DEVICE_RESET; the kernel.s method: pm\)$' "$ERR"
expect_grep '0000:00:0b\.0: reset at exit by function reset \(VFIO_DEVICE_RESET; the kernel.s method: pm\)$' "$ERR"
expect_count 2 '0000:00:0a\.0: no reset: the device has no FLR, PM or bus reset VFIO can use \(sysfs reset_method: none; bus hot reset: .*\); it keeps the state it was left in$' "$ERR"
