# virtio without MSI-X: the guest boots with pci=nomsi, so virtio-pci falls back to INTx (the ISR
# and a level-triggered IOAPIC line that KVM resamples); the guest reads a disk through it and
# counts interrupts on the IO-APIC line.
# lab-timeout: 240
dd if=/dev/urandom of="$LAB_DIR/data.img" bs=4096 count=64 2>/dev/null
first=$(dd if="$LAB_DIR/data.img" bs=4096 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
GUEST_INITRD=/lab/guest/initrd-virtio.cpio
GUEST_CMDLINE_BASE="$GUEST_CMDLINE_BASE pci=nomsi"
run_ovmm disk-ro:/dev/vda --disk "$LAB_DIR/data.img,readonly=on"
expect_rc 0
expect_grep "^RO-CHECK dev=/dev/vda .* first_block_md5_before=$first after=$first\$"
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=0 mode=none$'
expect_grep '^IRQ name=virtio0 chip=IO-APIC .* count=[1-9][0-9]*$'
