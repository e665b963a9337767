# A user with access to /dev/vfio/N but RLIMIT_MEMLOCK 1024 KiB (ulimit -l 1024) passes edu through
# to a 256 MiB guest: ovmm exits 2 with one line giving the limit, the need and the fix.
# lab-timeout: 60
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0a.0
group=$(basename "$(readlink /sys/bus/pci/devices/0000:00:0a.0/iommu_group)")
add_lab_user
chown 1000 "/dev/vfio/$group"
next_run
note "run $RUN_NO (as uid 1000, ulimit -l 1024): ovmm --memory 256M --vfio 0000:00:0a.0"
su lab -c "id -u; ulimit -l 1024 && exec $LAB_VMM --kernel $GUEST_KERNEL --initrd $GUEST_INITRD --cmdline 'console=ttyS0 ovmm.test=poweroff' --memory 256M --vfio 0000:00:0a.0" \
  > "$OUT" 2> "$ERR" < /dev/null
RC=$?
chown 0 "/dev/vfio/$group"
note "run $RUN_NO: exit status $RC"
[ "$(head -1 "$OUT")" = 1000 ] || fail "su did not run ovmm as uid 1000 (first line of ${OUT##*/}: $(head -1 "$OUT"))"
expect_rc 2
expect_lines 1 "$ERR"
expect_grep 'RLIMIT_MEMLOCK is 1 MiB but passthrough pins all 256 MiB of guest memory: raise it \(`ulimit -l 262144`' "$ERR"
