# A 32 GiB BAR (ivshmem-plain) passed through: ovmm sizes the 64-bit window from the device,
# places the BAR at natural alignment above RAM, maps it into the guest (one KVM slot, host
# mapping aligned for huge pages), and the guest reads back what it wrote at both ends.
# lab-timeout: 300
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
# lab-l1-args: -device e1000,addr=0f.0,multifunction=on,netdev=m0 -netdev user,id=m0,restrict=on
# lab-l1-args: -device e1000,addr=0f.1,netdev=m1 -netdev user,id=m1,restrict=on
# lab-l1-args: -device pcie-root-port,id=rp1,bus=pcie.0,addr=10.0,chassis=1
# lab-l1-args: -device virtio-rng-pci,bus=rp1
B=0000:00:0e.0
vfio_bind "$B"
start_ovmm shell --vfio $B -v
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
sleep 1
send_line 'd=$(grep -l 0x1110 /sys/bus/pci/devices/*/device); d=${d%/device}; echo BAR2 $(sed -n 3p $d/resource); echo 1 > $d/enable'
wait_for '^BAR2 ' "$OUT" 30
bar=$(tr -d '\r' < "$OUT" | sed -n 's/^BAR2 \(0x[0-9a-f]*\) \(0x[0-9a-f]*\) .*/\1 \2/p' | head -1)
start=${bar% *}; end=${bar#* }
[ -n "$start" ] || fail "no BAR2 line from the guest"
size=$(( end - start + 1 ))
[ "$size" = $((32 << 30)) ] || fail "guest BAR2 is $size bytes, expected 32 GiB"
[ $(( start % (32 << 30) )) = 0 ] || fail "guest BAR2 at $start is not aligned to its size"
last=$(printf '0x%x' $(( end - 7 )))
send_line "devmem $start 64 0x1122334455667788; devmem $last 64 0x99aabbccddeeff00; echo RD-FIRST \$(devmem $start 64); echo RD-LAST \$(devmem $last 64)"
wait_for '^RD-LAST ' "$OUT" 60
send_line 'poweroff -f'
wait_ovmm 90
expect_rc 0
expect_grep '^RD-FIRST 0x1122334455667788'
expect_grep '^RD-LAST 0x99AABBCCDDEEFF00|^RD-LAST 0x99aabbccddeeff00'
