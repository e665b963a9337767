# virtio without MSI-X on arm64: with --msi off ovmm hides MSI-X from the virtio device too, so
# virtio-pci falls back to INTx (the ISR and a level SPI through the GICv3 that KVM resamples);
# the guest reads a disk through it and counts interrupts on the GICv3 line.
# lab-timeout: 240
dd if=/dev/urandom of="$LAB_DIR/data.img" bs=4096 count=64 2>/dev/null
first=$(dd if="$LAB_DIR/data.img" bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
GUEST_INITRD=/lab/guest/initrd-virtio.cpio
run_ovmm disk-ro:/dev/vda --msi off --disk "$LAB_DIR/data.img,readonly=on"
expect_rc 0
expect_grep "^RO-CHECK dev=/dev/vda .* first_block_md5_before=$first after=$first\$"
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=0 mode=none$'
expect_grep '^IRQ name=virtio0 chip=GICv3 .* count=[1-9][0-9]*$'
