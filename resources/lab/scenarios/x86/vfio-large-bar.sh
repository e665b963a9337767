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
large_bar_check "$B"
