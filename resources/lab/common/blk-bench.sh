# The virtio-blk benchmark, run by L1's /init when /lab/plan says "mode blk-bench": the guest reads
# a 256 MiB image from end to end with dd bs=1M iflag=direct (O_DIRECT: every byte crosses the
# virtio ring), served by ovmm --disk, then by QEMU's virtio-blk-pci (QEMU microvm with PCIe), on
# the same file in L1's memory, with the same kernel, initramfs, 1 vCPU and 512 MiB. Runs
# alternate between the two. Prints, per run:
#   LAB-BLK-BENCH vmm=V run=I bytes=N secs=S rc=N      (S: the guest's own dd time)
RUNS=${LAB_BENCH_RUNS:-5}
IMG=/tmp/blk-bench.img
GUEST_INITRD=/lab/guest/initrd-virtio.cpio
QEMU_BLK="qemu-system-x86_64 -M microvm,pcie=on -enable-kvm -cpu host -smp 1 -m 512 -nodefaults -no-user-config -display none -serial stdio -no-reboot"

dd if=/dev/zero of="$IMG" bs=1M count=256 2>/dev/null
echo "LAB-BLK-BENCH-BEGIN runs=$RUNS image_bytes=$(stat -c %s "$IMG") ovmm=$LAB_VMM qemu=$(qemu-system-x86_64 --version | head -1)"

blk_run() {
  cmdline=$(guest_cmdline blk-bench:/dev/vda)
  # shellcheck disable=SC2086  # QEMU_BLK is a list of words
  case $1 in
    ovmm) "$LAB_VMM" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$cmdline" --memory 512M --cpus 1 \
            --disk "$IMG,readonly=on" > /tmp/blk-out 2> /tmp/blk-err < /dev/null ;;
    qemu) $QEMU_BLK -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" -append "$cmdline" \
            -drive "file=$IMG,if=none,id=d0,format=raw,readonly=on" -device virtio-blk-pci,drive=d0,disable-legacy=on \
            > /tmp/blk-out 2> /tmp/blk-err < /dev/null ;;
  esac
  rc=$?
  line=$(tr -d '\r' < /tmp/blk-out | grep -m1 '^BLK-BENCH ')
  bytes=$(echo "$line" | sed -n 's/.* bytes=\([0-9]*\).*/\1/p')
  secs=$(echo "$line" | sed -n 's/.* secs=\([0-9.]*\).*/\1/p')
  echo "LAB-BLK-BENCH vmm=$1 run=$2 bytes=${bytes:-0} secs=${secs:-none} rc=$rc"
  if [ -z "$secs" ]; then
    tr -d '\r' < /tmp/blk-out | tail -20 | sed "s/^/LAB-BENCH-LOG $1 | /"
    tr -d '\r' < /tmp/blk-err | tail -20 | sed "s/^/LAB-BENCH-LOG $1 | /"
  fi
}

i=1
while [ "$i" -le "$RUNS" ]; do
  blk_run ovmm "$i"
  blk_run qemu "$i"
  i=$((i + 1))
done
rm -f "$IMG"
echo "LAB-BLK-BENCH-END"
