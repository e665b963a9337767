# A guest that reboots with a passed-through device (edu) boots again with it: ovmm rebuilds
# the VM from scratch, so the first boot's VFIO container, group and device must have been
# released (a leak makes the second open fail). Then SIGTERM stops ovmm with status 143.
# lab-timeout: 300
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
B=0000:00:0a.0
vfio_bind "$B"
start_ovmm reboot --vfio $B -v
wait_for '^OVMM-GUEST-INIT ' "$OUT" 150
wait_for_count 2 '^OVMM-GUEST-INIT ' "$OUT" 150
sleep 0.5
kill -TERM "$OVMM_PID"
wait_ovmm 30
expect_rc 143
opens=$(tr -d '\r' < "$ERR" | grep -c 'opened 0000:00:0a.0 through VFIO')
expect_between "$opens" 2 100 "boots that opened the device"
expect_no_grep '(ERROR|cannot)' "$ERR"
