# --pci-mmio64-size 64G: with no device at all the guest's PCI root still gets a 64 GiB 64-bit
# window (room for hotplug) right above 4 GiB, seen in its "root bus resource" line and
# /proc/iomem; sizes the guest cannot address, or not in whole GiB, are refused (exit 2, one
# line naming the sizes).
# lab-timeout: 240
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
start_ovmm shell --pci-mmio64-size 64G
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
send_line "dmesg | grep 'root bus resource \[mem 0x[0-9a-f]\{9,\}' | sed 's/.*root bus resource /WIN64 /'; grep -i 'PCI Bus 0000:00' /proc/iomem | sed 's/^ */IOMEM /'"
wait_for '^IOMEM ' "$OUT" 30
send_line 'poweroff -f'
wait_ovmm 60
expect_rc 0
expect_grep '^WIN64 \[mem 0x100000000-0x10ffffffff window\]'
expect_grep '^IOMEM 100000000-10ffffffff : PCI Bus 0000:00'
run_ovmm poweroff --pci-mmio64-size 4T
expect_rc 2
expect_lines 1 "$ERR"
expect_grep '^ovmm: .*--pci-mmio64-size 4 TiB does not fit: the 64-bit window starts at 0x100000000 and the guest.s physical addresses end at 0x[0-9a-f]+ .* which leaves [0-9]+ GiB; ask for at most [0-9]+ GiB' "$ERR"
run_ovmm poweroff --pci-mmio64-size 1536M
expect_rc 2
expect_grep 'pci-mmio64-size 1536M: give a whole number of GiB' "$ERR"
