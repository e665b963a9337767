# --disk and --net mistakes end ovmm with status 2 and one line naming the problem: a missing image,
# an image that is not whole 512-byte sectors, an image the user may not write (uid 1000), a TAP that
# does not exist, and a TAP the user may not attach to (uid 1000). No guest boots.
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
add_lab_user
head -c 1048576 /dev/zero > "$LAB_DIR/root-only.img"
chmod 644 "$LAB_DIR/root-only.img"
chmod 755 "$LAB_DIR"
tunctl -t rootstap0 > /dev/null || fail "tunctl -t rootstap0 failed"
chmod 666 /dev/net/tun   # as udev leaves it on a distribution (devtmpfs makes it 0600)
next_run
su lab -c "exec $LAB_VMM --kernel $GUEST_KERNEL --initrd $GUEST_INITRD --cmdline 'console=ttyS0 ovmm.test=poweroff' --disk $LAB_DIR/root-only.img" > "$OUT" 2> "$ERR" < /dev/null
RC=$?
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "root-only\.img' for reading and writing .*[Pp]ermission denied" "$ERR"
next_run
su lab -c "exec $LAB_VMM --kernel $GUEST_KERNEL --initrd $GUEST_INITRD --cmdline 'console=ttyS0 ovmm.test=poweroff' --net tap=rootstap0" > "$OUT" 2> "$ERR" < /dev/null
RC=$?
tunctl -d rootstap0 > /dev/null
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "permission denied attaching to TAP device 'rootstap0'" "$ERR"
