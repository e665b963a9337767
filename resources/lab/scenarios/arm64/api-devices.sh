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

start_ovmm edu-sleep --vfio 0000:00:0a.0 --api-socket "$LAB_DIR/api.sock"
wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=1 mode=msi$'
api GET /vm/devices
[ "$API_RC" = 0 ] || fail "GET /vm/devices failed"
tr -d '\n' < "$API_OUT" | grep -q '"guest_address":"0000:00:01.0","kind":"passthrough","host_device":"0000:00:0a.0"' ||
  fail "no passthrough device 0000:00:01.0 from host 0000:00:0a.0 in the list"
tr -d '\n' < "$API_OUT" | grep -q '"interrupt_mode":"msi","interrupt_vectors":1' ||
  fail "the API does not report MSI with 1 vector"
# BAR addresses: the API's (guest_address of decoding BARs) against the guest's sysfs resource
api_bars=$(grep -o '"guest_address":"0x[0-9a-f]*","decoding":true' "$API_OUT" | cut -d'"' -f4 | sed 's/^0x0*/0x/' | sort | tr '\n' ' ')
guest_bars=$(tr -d '\r' < "$OUT" | sed -n 's/^PCI-RESOURCES bdf=0000:00:01.0 //p' | tr ',' '\n' | cut -d- -f1 | sed 's/^0x0*/0x/' | sort | tr '\n' ' ')
note "BARS api=[$api_bars] guest=[$guest_bars]"
[ -n "$api_bars" ] || fail "the API shows no decoding BAR"
[ "$api_bars" = "$guest_bars" ] || fail "BAR addresses differ: API [$api_bars], guest sysfs [$guest_bars]"
host_bar0=$(head -1 /sys/bus/pci/devices/0000:00:0a.0/resource | cut -d' ' -f1 | sed 's/^0x0*/0x/')
grep -q "\"host_address\":\"$host_bar0\"" "$API_OUT" || fail "host BAR0 $host_bar0 (L1 sysfs) not in the answer"
api PUT /vm/power-off
wait_ovmm 120
expect_rc 0
expect_grep '^OVMM-GUEST-POWER-BUTTON$'
