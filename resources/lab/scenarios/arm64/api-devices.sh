# GET /vm/devices with edu passed through: the device sits at the guest address the guest sees,
# its BAR guest addresses are the ones in the guest's sysfs, its host BAR address is L1's, and its
# interrupt mode is the one the guest's driver enabled (MSI through the vITS). --dump-dtb with
# the device writes the device tree with the PL061 and its gpio-keys power key. Then the power
# button ends the guest with status 0.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
vfio_bind 0000:00:0a.0
run_vmm_raw --kernel "$GUEST_KERNEL" --vfio 0000:00:0a.0 --dump-dtb "$LAB_DIR/vm.dtb"
expect_rc 0
[ -s "$LAB_DIR/vm.dtb" ] || fail "--dump-dtb wrote no device tree"
for s in 'arm,pl061' 'gpio-keys' 'linux,code' 'pci-host-ecam-generic' 'msi-map'; do
  grep -q "$s" "$LAB_DIR/vm.dtb" || fail "the dumped device tree has no '$s'"
done

api_devices_check
