# Guest boot time to its init marker without and with a passed-through device (edu), 3 runs
# each, for the lead's note (with -v, so the exit summaries are logged too); asserts only that
# every run shows the marker and powers off cleanly.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0a.0
for dev in none edu; do
  for i in 1 2 3; do
    if [ "$dev" = none ]; then start_ovmm poweroff -v; else start_ovmm poweroff -v --vfio 0000:00:0a.0; fi
    wait_for "^$MARKER " "$OUT" 60
    to_marker=$(elapsed "$START_T" "$(uptime_s)")
    wait_ovmm 60
    expect_rc 0
    exit_summary
    note "BOOT-TIME device=$dev run=$i wall_to_marker=$to_marker guest_uptime_at_marker=$(marker_field uptime) ovmm_total=$SECS"
  done
done
