# romfile=: the guest sees a file as the e1000's expansion ROM (48 KiB image, a 64 KiB ROM BAR)
# and reads it back through sysfs with the same MD5 as the file; an empty, a missing and a
# too large file are refused before the guest starts (exit 2, one line naming file and device).
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
B=0000:00:0c.0
vfio_bind "$B"
rom=$LAB_DIR/option.rom
make_option_rom "$rom" 48
want=$(md5_of "$rom")
: > "$LAB_DIR/empty.rom"
dd if=/dev/zero of="$LAB_DIR/huge.rom" bs=1M count=0 seek=17 2>/dev/null
for bad in "empty.rom:is empty" "missing.rom:cannot read it" "huge.rom:more than the 16 MiB"; do
  run_ovmm poweroff --vfio "$B,romfile=$LAB_DIR/${bad%%:*}"
  expect_rc 2
  expect_lines 1 "$ERR"
  expect_grep "romfile '$LAB_DIR/${bad%%:*}' for $B (is [0-9]+ bytes, )?${bad#*:}" "$ERR"
done
start_ovmm shell --vfio "$B,romfile=$rom" -v
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
send_line 'd=/sys/bus/pci/devices/0000:00:01.0; echo 1 > $d/enable; echo 1 > $d/rom; echo ROM-MD5 $(md5sum < $d/rom | cut -d" " -f1) $(wc -c < $d/rom); echo 0 > $d/rom; echo ROM-RES $(sed -n 7p $d/resource)'
wait_for '^ROM-RES ' "$OUT" 30
send_line 'poweroff -f'
wait_ovmm 60
expect_rc 0
note "host file: $want (49152 bytes)"
expect_grep "^ROM-MD5 $want 49152$"
line=$(tr -d '\r' < "$OUT" | sed -n 's/^ROM-RES \(0x[0-9a-f]*\) \(0x[0-9a-f]*\) .*/\1 \2/p' | head -1)
[ -n "$line" ] || fail "no ROM-RES line from the guest"
rom_size=$(( ${line#* } - ${line% *} + 1 ))
[ "$rom_size" = 65536 ] || fail "the guest sees a ROM BAR of $rom_size bytes, expected 64 KiB"
expect_grep "$B: ROM from $rom \(49152 bytes, a 64 KiB ROM BAR\)" "$ERR"
