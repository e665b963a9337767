# The x86 lab demo, run by L1's /init when /lab/plan says "mode demo": the emulated host has an
# e1000e NIC that ovmm passes through to its guest (common/demo-run.sh does the rest).
# lab-timeout: 300
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
NIC=0000:00:0b.0
HOST_TEXT="QEMU TCG with nested SVM and an emulated IOMMU"
. /lab/demo-run.sh
