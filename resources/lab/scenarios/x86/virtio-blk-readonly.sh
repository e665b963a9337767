# A read-only virtio disk (readonly=on,id=ro-disk): the guest sees it read-only (VIRTIO_BLK_F_RO)
# with its serial, and its kernel refuses a write, also after blockdev --setrw (the read-only flag
# is the disk's own). The image is unchanged, on the host and as the guest reads it back. (That
# ovmm fails writes with an I/O error when a guest sends one anyway is a unit test:
# devices::virtio::tests::block::read_only_disk_refuses_writes.)
# lab-timeout: 240
dd if=/dev/urandom of="$LAB_DIR/ro.img" bs=4096 count=256 2>/dev/null
sum=$(md5sum < "$LAB_DIR/ro.img")
first=$(dd if="$LAB_DIR/ro.img" bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
GUEST_INITRD=/lab/guest/initrd-virtio.cpio
run_ovmm disk-ro:/dev/vda --disk "$LAB_DIR/ro.img,readonly=on,id=ro-disk"
expect_rc 0
expect_grep '^DISK name=vda sectors=2048 ro=1 serial=ro-disk$'
expect_grep "^RO-CHECK dev=/dev/vda write=failed write_after_setrw=failed first_block_md5_before=$first after=$first\$"
expect_grep "^RO-ERRORS dd: error writing '/dev/vda': Operation not permitted.*\| dd: error writing '/dev/vda': Operation not permitted"
[ "$(md5sum < "$LAB_DIR/ro.img")" = "$sum" ] || fail "the read-only image changed on the host"
