# GET /vm/devices with edu passed through: the device sits at the guest address the guest sees,
# its BAR guest addresses are the ones in the guest's sysfs, its host BAR address is L1's, and its
# interrupt mode is the one the guest's driver enabled (MSI). --dump-acpi with the device writes
# the tables with its _PRT route. Then the ACPI power button ends the guest with status 0.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
vfio_bind 0000:00:0a.0
run_vmm_raw --kernel "$GUEST_KERNEL" --vfio 0000:00:0a.0 --dump-acpi "$LAB_DIR/acpi"
expect_rc 0
for t in rsdp dsdt facp apic mcfg xsdt; do
  [ -s "$LAB_DIR/acpi/$t.dat" ] || fail "--dump-acpi wrote no $t.dat"
done
# slot 1's INTA goes to GSI 17 through link device GS17 in the _PRT
grep -q 'GS17' "$LAB_DIR/acpi/dsdt.dat" || fail "dsdt.dat has no link GS17 for the device's INTx"

api_devices_check
