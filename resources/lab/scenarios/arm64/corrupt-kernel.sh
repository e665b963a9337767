# A kernel file that is not an arm64 Image: ovmm exits 2 with one error line naming the file.
# lab-timeout: 60
bad=$LAB_DIR/corrupt-Image
head -c 65536 /dev/urandom > "$bad"
run_vmm_raw --kernel "$bad" --initrd "$GUEST_INITRD" --cmdline "$(guest_cmdline poweroff)"
expect_rc 2
expect_lines 1 "$ERR"
expect_grep "$bad" "$ERR"
