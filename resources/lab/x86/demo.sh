# The lab demo, run by L1's /init when /lab/plan says "mode demo": ovmm boots the lab guest, whose
# console output appears live, then the demo reports ovmm's exit status.
# To show more (e.g. a passed-through device), add the device to L1 with a lab-l1-args header
# line (as in scenarios), bind it in L1 here, and add the ovmm option to DEMO_ARGS.
# lab-timeout: 300
DEMO_ARGS="--cpus 2 --memory 512M"
cmdline=$(guest_cmdline hello)
echo "LAB-DEMO-BEGIN"
echo "In the emulated host (L1, QEMU TCG with nested SVM), ovmm boots a Debian kernel as its guest:"
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
