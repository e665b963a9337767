# The lab demo, run by L1's /init when /lab/plan says "mode demo": the emulated host has an
# e1000e NIC; ovmm passes it through to its guest with VFIO, and the guest's stock e1000e driver
# gets an address by DHCP from QEMU's user network and pings the gateway. The guest console
# appears live, then the demo reports ovmm's exit status.
# lab-timeout: 300
# lab-l1-args: -device e1000e,netdev=n1,addr=0b.0 -netdev user,id=n1,restrict=on
NIC=0000:00:0b.0
use_driver "$NIC" vfio-pci
DEMO_ARGS="--cpus 2 --memory 512M --vfio $NIC"
cmdline=$(guest_cmdline demo)
echo "LAB-DEMO-BEGIN"
echo "In the emulated host (L1, QEMU TCG with nested SVM and an emulated IOMMU), the e1000e NIC"
echo "$NIC is bound to vfio-pci; ovmm boots a Debian kernel and passes the NIC through to it:"
echo "\$ ovmm --kernel $GUEST_KERNEL --initrd $GUEST_INITRD --cmdline '$cmdline' $DEMO_ARGS"
echo "---- guest console (ovmm's stdout) ----"
t0=$(uptime_s)
# shellcheck disable=SC2086  # DEMO_ARGS is a list of words
{
  "$LAB_VMM" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$cmdline" $DEMO_ARGS < /dev/null 2>&1
  echo $? > /tmp/demo-rc
} | tr -d '\r'
rc=$(cat /tmp/demo-rc)
echo "---- end of guest console ----"
echo "LAB-DEMO-RESULT rc=$rc secs=$(elapsed "$t0" "$(uptime_s)")"
