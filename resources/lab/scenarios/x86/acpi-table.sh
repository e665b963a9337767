# --acpi-table: an SSDT with a fake battery (compiled from resources/lab/x86/acpi/battery.dsl)
# shows up in the guest as /sys/firmware/acpi/tables/SSDT with the same bytes, and its battery
# as an ACPI device (PNP0C0A at \_SB_.BAT0); a table with a bad checksum, a truncated one and a
# DSDT (which ovmm makes itself) are refused before the guest starts (exit 2, one line each).
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
aml=/lab/guest/battery.aml
want=$(md5_of "$aml")
cp "$aml" "$LAB_DIR/bad-sum.aml"
printf 'X' | dd of="$LAB_DIR/bad-sum.aml" bs=1 seek=10 conv=notrunc 2>/dev/null
head -c 30 "$aml" > "$LAB_DIR/short.aml"
for bad in "$LAB_DIR/bad-sum.aml:bad checksum" "$LAB_DIR/short.aml:shorter than an ACPI header" "/lab/guest/dsdt.aml:DSDT table: ovmm generates this table itself"; do
  run_ovmm poweroff --acpi-table "${bad%%:*}"
  expect_rc 2
  expect_lines 1 "$ERR"
  expect_grep "acpi-table '${bad%%:*}': .*${bad#*:}" "$ERR"
done
start_ovmm shell --acpi-table "$aml" -v
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
send_line 'echo TABLES $(ls /sys/firmware/acpi/tables | tr "\n" " "); echo SSDT-MD5 $(md5sum < /sys/firmware/acpi/tables/SSDT | cut -d" " -f1); echo BAT $(cat /sys/bus/acpi/devices/PNP0C0A:00/path) $(cat /sys/bus/acpi/devices/PNP0C0A:00/status)'
wait_for '^BAT' "$OUT" 30
send_line 'poweroff -f'
wait_ovmm 60
expect_rc 0
expect_grep '^TABLES .*SSDT'
expect_grep "^SSDT-MD5 $want$"
expect_grep '^BAT \\_SB_\.BAT0 31$'
expect_grep 'ACPI: added SSDT from /lab/guest/battery.aml \(147 bytes\)' "$ERR"
