# The guest's root file system is on a virtio-blk disk (an ext4 image of the lab's busybox tree,
# made on the host with mkfs.ext4 -d): the guest initramfs loads virtio-pci, virtio-blk and ext4
# and switch_roots to /dev/vda; the first boot writes a token and powers off, a second ovmm run
# reads it back. The serial is the file name (then id=), and every queue notification arrives
# by ioeventfd, none as a vCPU exit. A third run writes a new token and reboots: ovmm builds the VM
# again on the same image (its lock released and taken again) and the next boot reads the token.
# lab-timeout: 360
gunzip -c /lab/guest/disk.ext4.gz > "$LAB_DIR/root.img"
GUEST_INITRD=/lab/guest/initrd-virtio.cpio
GUEST_CMDLINE_BASE="$GUEST_CMDLINE_BASE ovmm.root=/dev/vda"
token=lab-$(cut -c1-8 /proc/sys/kernel/random/uuid)
run_ovmm "disk-write:$token" --disk "$LAB_DIR/root.img" -v
expect_rc 0
expect_grep '^OVMM-GUEST-ROOT dev=/dev/vda fstype=ext4 opts=rw'
expect_grep "^DISK-WRITE token=$token\$"
expect_grep '^DISK name=vda sectors=65536 ro=0 serial=root\.img$'
expect_grep 'virtio-blk .*root\.img: started by the driver' "$ERR"
expect_grep 'virtio-blk .*root\.img: every queue notification went through ioeventfds' "$ERR"
exit_summary
run_ovmm disk-read --disk "$LAB_DIR/root.img,id=lab-root"
expect_rc 0
expect_grep '^OVMM-GUEST-ROOT dev=/dev/vda fstype=ext4'
expect_grep "^DISK-READ token=$token\$"
expect_grep '^DISK name=vda sectors=65536 ro=0 serial=lab-root$'
token2=lab-$(cut -c1-8 /proc/sys/kernel/random/uuid)
run_ovmm "disk-reboot:$token2" --disk "$LAB_DIR/root.img"
expect_rc 0
expect_count 2 '^OVMM-GUEST-ROOT dev=/dev/vda fstype=ext4'
expect_grep "^DISK-WRITE token=$token2\$"
expect_grep "^DISK-READ-AFTER-REBOOT token=$token2\$"
