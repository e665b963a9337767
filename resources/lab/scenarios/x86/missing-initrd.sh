# An initrd path that does not exist: ovmm exits 2 with one error line naming the file.
# lab-timeout: 60
missing=$LAB_DIR/no-such-initrd.cpio
run_vmm_raw --kernel "$GUEST_KERNEL" --initrd "$missing" --cmdline "$(guest_cmdline poweroff)"
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "$missing" "$ERR"
