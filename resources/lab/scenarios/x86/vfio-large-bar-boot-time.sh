# Guest boot time to its init marker with the 32 GiB ivshmem BAR passed through against no
# device, 3 runs each in the same L1 boot, alternating so that a change in the machine's load
# hits both alike (for the report; with -v so the exit summaries are logged too); asserts only
# that every run shows the marker and powers off cleanly.
# lab-timeout: 300
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
# lab-l1-args: -device e1000,addr=0f.0,multifunction=on,netdev=m0 -netdev user,id=m0,restrict=on
# lab-l1-args: -device e1000,addr=0f.1,netdev=m1 -netdev user,id=m1,restrict=on
# lab-l1-args: -device pcie-root-port,id=rp1,bus=pcie.0,addr=10.0,chassis=1
# lab-l1-args: -device virtio-rng-pci,bus=rp1
B=0000:00:0e.0
vfio_bind "$B"
for i in 1 2 3; do
  for dev in none ivshmem-32g; do
    if [ "$dev" = none ]; then start_ovmm poweroff -v; else start_ovmm poweroff -v --vfio $B; fi
    wait_for "^$MARKER " "$OUT" 90
    to_marker=$(elapsed "$START_T" "$(uptime_s)")
    wait_ovmm 60
    expect_rc 0
    exit_summary
    note "BOOT-TIME device=$dev run=$i wall_to_marker=$to_marker guest_uptime_at_marker=$(marker_field uptime) ovmm_total=$SECS"
  done
done
