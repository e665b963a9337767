# --disk and --net mistakes end ovmm with status 2 and one line naming the problem: a missing image,
# an image that is not whole 512-byte sectors, an image the user may not write (uid 1000), a TAP that
# does not exist, an interface that is not a TAP (lo), and a user who may not open /dev/net/tun
# (uid 1000; devtmpfs leaves it 0600 when no udev opens it up). No guest boots.
# lab-timeout: 90
run_ovmm poweroff --disk "$LAB_DIR/no-such-disk.img"
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "no-such-disk\.img.*No such file or directory" "$ERR"
head -c 1000 /dev/zero > "$LAB_DIR/odd.img"
run_ovmm poweroff --disk "$LAB_DIR/odd.img"
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "odd\.img' is 1000 bytes, not a multiple of 512" "$ERR"
run_ovmm poweroff --net tap=nosuchtap0
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "TAP device 'nosuchtap0' does not exist; create it first" "$ERR"
run_ovmm poweroff --net tap=lo
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "network interface 'lo' is not a TAP device" "$ERR"
add_lab_user
head -c 1048576 /dev/zero > "$LAB_DIR/root-only.img"
chmod 644 "$LAB_DIR/root-only.img"
chmod 755 "$LAB_DIR"
tunctl -t labtap9 > /dev/null || fail "tunctl -t labtap9 failed"
chmod 600 /dev/net/tun
next_run
su lab -c "exec $LAB_VMM --kernel $GUEST_KERNEL --initrd $GUEST_INITRD --cmdline 'console=ttyS0 ovmm.test=poweroff' --disk $LAB_DIR/root-only.img" > "$OUT" 2> "$ERR" < /dev/null
RC=$?
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "root-only\.img' for reading and writing .*[Pp]ermission denied" "$ERR"
next_run
su lab -c "exec $LAB_VMM --kernel $GUEST_KERNEL --initrd $GUEST_INITRD --cmdline 'console=ttyS0 ovmm.test=poweroff' --net tap=labtap9" > "$OUT" 2> "$ERR" < /dev/null
RC=$?
tunctl -d labtap9 > /dev/null
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "cannot open /dev/net/tun for TAP device 'labtap9': Permission denied" "$ERR"
