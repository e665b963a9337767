# ID overrides and the expansion ROM: with vendor-id/device-id/sub-vendor-id/sub-device-id/
# class-code the guest sees those IDs instead of the e1000's own, and with rombar=off it sees no
# ROM; without options it sees the real IDs and the device's 256 KiB ROM.
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
B=0000:00:0c.0
vfio_bind "$B"
show_ids() {
  send_line 'd=/sys/bus/pci/devices/0000:00:01.0; echo IDS $(cat $d/vendor $d/device $d/subsystem_vendor $d/subsystem_device $d/class) ROM $(sed -n 7p $d/resource)'
  wait_for '^IDS ' "$OUT" 30
  send_line 'poweroff -f'
  wait_ovmm 60
  expect_rc 0
}
start_ovmm shell --vfio "$B,vendor-id=0x1af4,device-id=0x1041,sub-vendor-id=0x1234,sub-device-id=0x5678,class-code=0x028000,rombar=off"
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
show_ids
expect_grep '^IDS 0x1af4 0x1041 0x1234 0x5678 0x028000 ROM 0x0000000000000000 0x0000000000000000 0x0000000000000000$'
start_ovmm shell --vfio "$B"
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
show_ids
expect_grep '^IDS 0x8086 0x100e 0x1af4 0x1100 0x020000 ROM 0x[0-9a-f]+ 0x[0-9a-f]+ 0x[0-9a-f]*[1-9a-f][0-9a-f]*$'
line=$(tr -d '\r' < "$OUT" | sed -n 's/^IDS .* ROM \(0x[0-9a-f]*\) \(0x[0-9a-f]*\) .*/\1 \2/p' | head -1)
rom_size=$(( ${line#* } - ${line% *} + 1 ))
[ "$rom_size" = 262144 ] || fail "the guest sees a ROM of $rom_size bytes, expected 256 KiB"
