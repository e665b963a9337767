# A virtio root disk and a passed-through device in one arm64 guest: the guest boots from
# /dev/vda and its edu driver passes every check with MSI through the vITS on the passed-through
# edu; both share the PCI root, and both devices' MSIs carry their own requester IDs.
# lab-timeout: 300
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
vfio_bind 0000:00:0a.0
gunzip -c /lab/guest/disk.ext4.gz > "$LAB_DIR/root.img"
GUEST_INITRD=/lab/guest/initrd-virtio.cpio
GUEST_CMDLINE_BASE="$GUEST_CMDLINE_BASE ovmm.root=/dev/vda"
run_ovmm edu-disk --vfio 0000:00:0a.0 --disk "$LAB_DIR/root.img" -v
expect_rc 0
expect_grep '^OVMM-GUEST-ROOT dev=/dev/vda fstype=ext4 opts=rw'
expect_grep '^EDU-RESULT bdf=0000:00:01.0 id=0x010000ed live=ok fact=120 dma=ok irq=msi .* count=5$'
expect_grep '^DISK name=vda sectors=65536 ro=0 serial=root\.img$'
expect_grep 'virtio-blk .*root\.img is 0000:00:02\.0 in the guest' "$ERR"
expect_grep '^IRQ name=virtio0-req\.0 chip=ITS-MSI .* count=[1-9][0-9]*$'
expect_no_grep 'EDU-FAIL|EDU-INSMOD-FAILED'
