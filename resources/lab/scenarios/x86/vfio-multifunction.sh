# Multi-function: two e1000 functions of one emulated-host slot (00:0f.0 and 00:0f.1, one IOMMU
# group) passed as the slot (--vfio 0000:00:0f) become functions 0 and 1 of one guest slot, with
# the multi-function bit on function 0; both probe with the stock driver and each pings
# 10.0.2.2. One function alone becomes function 0 of its own slot (bit clear); addr= places
# functions where the user says; a slot without function 0, a clash and bad syntax are refused.
# lab-timeout: 300
# lab-l1-args: -object memory-backend-ram,id=hm,size=32G,reserve=off
# lab-l1-args: -device ivshmem-plain,memdev=hm,addr=0e.0
# lab-l1-args: -device e1000,addr=0f.0,multifunction=on,netdev=m0 -netdev user,id=m0,restrict=on
# lab-l1-args: -device e1000,addr=0f.1,netdev=m1 -netdev user,id=m1,restrict=on
# lab-l1-args: -device pcie-root-port,id=rp1,bus=pcie.0,addr=10.0,chassis=1
# lab-l1-args: -device virtio-rng-pci,bus=rp1
F0=0000:00:0f.0
F1=0000:00:0f.1
vfio_bind "$F0" "$F1"
g0=$(basename "$(readlink /sys/bus/pci/devices/$F0/iommu_group)")
g1=$(basename "$(readlink /sys/bus/pci/devices/$F1/iommu_group)")
note "IOMMU groups: $F0 in $g0, $F1 in $g1"
run_ovmm nics-ping --vfio 0000:00:0f -v
expect_rc 0
expect_grep '^NIC name=eth[01] driver=e1000 bdf=0000:00:01\.0 header=80$'
expect_grep '^NIC name=eth[01] driver=e1000 bdf=0000:00:01\.1 header=00$'
expect_count 2 '^PING-NIC nic=eth[01] sent=2 received=[12]$'
expect_grep "$F0 is 0000:00:01\.0 in the guest" "$ERR"
expect_grep "$F1 is 0000:00:01\.1 in the guest" "$ERR"

run_ovmm nics --vfio "$F1"
expect_rc 0
expect_grep '^NIC name=eth0 driver=e1000 bdf=0000:00:01\.0 header=00$'

run_ovmm nics --vfio "$F0,addr=5.0" --vfio "$F1,addr=05.3"
expect_rc 0
expect_grep '^NIC name=eth[01] driver=e1000 bdf=0000:00:05\.0 header=80$'
expect_grep '^NIC name=eth[01] driver=e1000 bdf=0000:00:05\.3 header=00$'

run_ovmm poweroff --vfio "$F1,addr=5.1"
expect_rc 2
expect_lines 1 "$ERR"
expect_grep 'guest slot 05 has function 1 \(0000:00:0f\.1\) but no function 0' "$ERR"
run_ovmm poweroff --vfio 0000:00:0f,addr=3 --vfio 0000:00:0e.0,addr=3.1
expect_rc 2
expect_grep '0000:00:0e\.0 asks for guest PCI address 0000:00:03\.1, which 0000:00:0f\.1 already has' "$ERR"
run_ovmm poweroff --vfio "$F0,addr=zz"
expect_rc 2
expect_grep 'addr=zz: the slot must be hex 0 to 1f' "$ERR"
