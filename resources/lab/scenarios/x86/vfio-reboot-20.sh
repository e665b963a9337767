# Twenty guest reboots with the e1000e passed through: each boot loads the stock driver, gives
# the NIC 10.0.2.15/24 (no DHCP) and pings 10.0.2.2, then reboots; ovmm rebuilds the VM each
# time and resets the device at every exit and start (function reset). Every boot's ping must be
# answered. SIGTERM ends the loop (status 143).
# lab-timeout: 900
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
B=0000:00:0b.0
vfio_bind "$B"
start_ovmm net-reboot --vfio "$B" -v
wait_for_count 20 '^PING-RESULT ' "$OUT" 850
kill -TERM "$OVMM_PID"
wait_ovmm 60
expect_rc 143
tr -d '\r' < "$OUT" | grep '^PING-RESULT ' | head -20 > "$LAB_DIR/pings"
expect_lines 20 "$LAB_DIR/pings"
expect_count 20 '^PING-RESULT sent=2 received=[12]$' "$LAB_DIR/pings"
note "pings answered per boot: $(sed 's/.*received=//' "$LAB_DIR/pings" | tr '\n' ' ')"
expect_no_grep 'NET-NO-NIC'
starts=$(tr -d '\r' < "$ERR" | grep -c "$B: reset at start by function reset")
exits=$(tr -d '\r' < "$ERR" | grep -c "$B: reset at exit by function reset")
note "device resets: $starts at start, $exits at exit"
expect_between "$starts" 20 30 "resets at start"
expect_between "$exits" 20 30 "resets at exit"
expect_no_grep '(ERROR|cannot)' "$ERR"
