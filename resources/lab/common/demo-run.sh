# The lab demo's body, shared by both labs (sourced by ARCH/demo.sh, which sets NIC, the L1
# address of an e1000e, and HOST_TEXT, what the emulated host is): ovmm passes the NIC through
# to its guest with VFIO, and the guest's stock e1000e driver gets an address by DHCP from QEMU's
# user network and pings the gateway. The guest console appears live, then the demo reports
# ovmm's exit status.
use_driver "$NIC" vfio-pci
DEMO_ARGS="--cpus 2 --memory 512M --vfio $NIC"
cmdline=$(guest_cmdline demo)
echo "LAB-DEMO-BEGIN"
echo "In the emulated host (L1, $HOST_TEXT), the e1000e NIC"
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
