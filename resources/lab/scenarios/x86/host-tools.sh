# `ovmm host` on a real kernel, with two e1000 behind a PCI bridge (one IOMMU group): list shows
# the group, check says what is not ready, bind moves the whole group (bridge excepted) to
# vfio-pci, a second bind is a no-op that says so, restore gives both back to e1000; and after a
# managed=on ovmm is killed with -9, `ovmm host restore` puts the devices back from the journal.
# lab-timeout: 300
# lab-l1-args: -device edu,dma_mask=0xffffffffffffffff,addr=0a.0
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
# lab-l1-args: -device e1000,netdev=n2,addr=0c.0 -netdev user,id=n2,restrict=on
# lab-l1-args: -device pcie-pci-bridge,id=br0,bus=pcie.0,addr=0d.0
# lab-l1-args: -device e1000,bus=br0,addr=1.0 -device e1000,bus=br0,addr=2.0
A=0000:01:01.0
B=0000:01:02.0
host() { "$LAB_VMM" host "$@" > "$LAB_DIR/host.out" 2>&1; HRC=$?; tr -d '\r' < "$LAB_DIR/host.out" | sed 's/^/  host| /'; }
use_driver "$A" e1000
use_driver "$B" e1000

host list
[ "$HRC" = 0 ] || fail "ovmm host list exited $HRC"
grep -q "$A" "$LAB_DIR/host.out" && grep -q "$B" "$LAB_DIR/host.out" || fail "host list does not show $A and $B"
grep -q '0000:00:0d.0' "$LAB_DIR/host.out" || fail "host list does not show the bridge"

host check "$A"
[ "$HRC" = 1 ] || fail "host check of a device on e1000 exited $HRC, expected 1 (not ready)"
grep -q 'OVMM-' "$LAB_DIR/host.out" || fail "host check printed no finding codes"
grep -q "$B" "$LAB_DIR/host.out" || fail "host check does not name the other group member $B"

host bind "$A"
[ "$HRC" = 0 ] || fail "host bind exited $HRC"
[ "$(driver_of "$A")" = vfio-pci ] && [ "$(driver_of "$B")" = vfio-pci ] ||
  fail "after bind: $A on '$(driver_of "$A")', $B on '$(driver_of "$B")'; expected vfio-pci for both"
group=$(basename "$(readlink /sys/bus/pci/devices/$A/iommu_group)")
[ -c "/dev/vfio/$group" ] || fail "/dev/vfio/$group missing after bind"

host check "$A"
[ "$HRC" = 0 ] || fail "host check after bind exited $HRC, expected 0 (ready)"

host bind "$A"
[ "$HRC" = 0 ] || fail "second host bind exited $HRC"
grep -qi 'already' "$LAB_DIR/host.out" || fail "second host bind does not say the devices are already bound"

host restore
[ "$HRC" = 0 ] || fail "host restore exited $HRC"
[ "$(driver_of "$A")" = e1000 ] && [ "$(driver_of "$B")" = e1000 ] ||
  fail "after restore: $A on '$(driver_of "$A")', $B on '$(driver_of "$B")'; expected e1000"

# A managed=on run killed with -9 leaves the group on vfio-pci; restore finishes the job.
start_ovmm sleep --vfio "$A,managed=on"
wait_for '^OVMM-GUEST-INIT ' "$OUT" 150
[ "$(driver_of "$A")" = vfio-pci ] || fail "managed=on did not bind $A"
kill -KILL "$OVMM_PID"
wait "$OVMM_PID" 2>/dev/null
OVMM_PID=
exec 3>&-
[ "$(driver_of "$A")" = vfio-pci ] || fail "after kill -9, $A is already on '$(driver_of "$A")'"
host restore
[ "$HRC" = 0 ] || fail "host restore after kill -9 exited $HRC"
[ "$(driver_of "$A")" = e1000 ] && [ "$(driver_of "$B")" = e1000 ] ||
  fail "after restore from the journal: $A on '$(driver_of "$A")', $B on '$(driver_of "$B")'"
