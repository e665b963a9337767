# virtio-net on a TAP made in L1 (tunctl, 10.9.0.1/24): the guest (10.9.0.2) pings L1, sends 4 MiB
# to L1 and fetches 4 MiB from L1 with nc (both checked by md5), and L1 pings the guest. The MAC
# is the one given; the NIC uses MSI-X. No traffic leaves L1.
# lab-timeout: 360
tunctl -t labtap0 > /dev/null || fail "tunctl -t labtap0 failed"
ip addr add 10.9.0.1/24 dev labtap0
ip link set labtap0 up
dd if=/dev/urandom of="$LAB_DIR/to-guest" bs=65536 count=64 2>/dev/null
to_guest=$(md5sum < "$LAB_DIR/to-guest" | cut -d' ' -f1)
(sleep 600 | nc -l -p 5001 > "$LAB_DIR/from-guest") &
nc -l -p 5002 < "$LAB_DIR/to-guest" &
GUEST_INITRD=/lab/guest/initrd-virtio.cpio
start_ovmm net-tap:10.9.0.2:10.9.0.1 --net tap=labtap0,mac=02:0c:0f:00:00:02 -v
wait_for '^NET-READY ' "$OUT" 200
ping -c 3 -W 5 10.9.0.2 > "$LAB_DIR/ping-guest" 2>&1
note "L1 -> guest: $(grep 'packets transmitted' "$LAB_DIR/ping-guest")"
wait_ovmm 240
expect_rc 0
expect_grep '^NET-NIC eth0 driver=virtio_net mac=02:0c:0f:00:00:02$'
expect_grep '^PING-RESULT sent=3 received=3$'
grep -q '3 packets transmitted, 3 packets received' "$LAB_DIR/ping-guest" || fail "L1 could not ping the guest: $(tr '\n' ' ' < "$LAB_DIR/ping-guest")"
expect_grep '^PINGED-BY-PEER count=[3-9]'
sent=$(tr -d '\r' < "$OUT" | sed -n 's/^NC-SENT bytes=4194304 md5=\([0-9a-f]*\)$/\1/p')
[ -n "$sent" ] || fail "no NC-SENT line for 4194304 bytes"
got=$(md5sum < "$LAB_DIR/from-guest" | cut -d' ' -f1)
[ "$got" = "$sent" ] || fail "L1 received $(stat -c %s "$LAB_DIR/from-guest") bytes with md5 $got, the guest sent $sent"
expect_grep "^NC-RECEIVED bytes=4194304 md5=$to_guest\$"
expect_grep '^MSI-MODE bdf=0000:00:0[0-9a-f]\.0 vectors=3 mode=msix$'
expect_grep 'virtio-net labtap0: every queue notification went through ioeventfds' "$ERR"
ip link delete labtap0 2>/dev/null || tunctl -d labtap0 > /dev/null
