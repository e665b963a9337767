# The benchmark, run by L1's /init when /lab/plan says "mode bench": ovmm against QEMU
# (QEMU_BENCH in arch.env: x86 `-M microvm -enable-kvm`, arm64 `-M virt -enable-kvm`), both
# booting the lab guest (same kernel, initramfs and command line, except the console name QEMU's
# UART has: QEMU_CONSOLE) with 1 vCPU and 512 MiB. Prints machine-readable lines; the harness
# computes medians and ratios.
#   LAB-BENCH-TIME vmm=V run=I start=T0 marker=T1 exit=T2 rc=N boot_timer_ms=MS
#     (L1 uptime stamps; boot_timer_ms: ovmm's own boot timer, start to the guest init's write
#     to the boot-timer register, from its -v log; "none" for QEMU)
#   LAB-SMAPS vmm=V RANGE PERMS SIZE_KB RSS_KB PATH                (one per mapping, guest at init)
RUNS=${LAB_BENCH_RUNS:-5}

# start VMM ($1: ovmm|qemu) booting the guest with ovmm.test=$2; stdin /dev/null; exec's the VMM
exec_vmm() {
  cmdline=$(guest_cmdline "$2")
  # shellcheck disable=SC2086  # QEMU_BENCH is a list of words
  case $1 in
    ovmm) exec "$LAB_VMM" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$cmdline" --memory 512M --cpus 1 -v < /dev/null ;;
    qemu) exec $QEMU_BENCH -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
            -append "$(echo "$cmdline" | sed "s/console=ttyS0/console=$QEMU_CONSOLE/")" < /dev/null ;;
  esac
}

# one timed boot to power-off; every console line is stamped with L1 uptime as it arrives
time_run() {
  rm -f /tmp/bench-rc
  s=$(uptime_s)
  { (exec_vmm "$1" poweroff) 2> /tmp/bench-err; echo $? > /tmp/bench-rc; } |
    while IFS= read -r line; do read -r up _ < /proc/uptime; echo "$up $line"; done > /tmp/bench-out
  e=$(uptime_s)
  m=$(grep -m1 " $MARKER " /tmp/bench-out | cut -d' ' -f1)
  bt=$(sed -n 's/.*boot timer: the guest reached userspace \([0-9]*\) ms.*/\1/p' /tmp/bench-err | head -1)
  echo "LAB-BENCH-TIME vmm=$1 run=$2 start=$s marker=${m:-none} exit=$e rc=$(cat /tmp/bench-rc) boot_timer_ms=${bt:-none}"
  if [ -z "$m" ]; then
    tr -d '\r' < /tmp/bench-out | tail -20 | sed "s/^/LAB-BENCH-LOG $1 | /"
    tr -d '\r' < /tmp/bench-err | tail -20 | sed "s/^/LAB-BENCH-LOG $1 | /"
  fi
}

# resident memory per mapping while the guest sits at its init
mem_run() {
  (exec_vmm "$1" sleep) > /tmp/mem-out 2>&1 &
  pid=$!
  n=0
  while ! grep -q "$MARKER" /tmp/mem-out; do
    n=$((n + 1))
    if [ "$n" -gt 600 ] || ! [ -d "/proc/$pid" ]; then
      echo "LAB-BENCH-LOG $1 | no guest init marker within 120 s"
      tr -d '\r' < /tmp/mem-out | tail -20 | sed "s/^/LAB-BENCH-LOG $1 | /"
      kill -KILL "$pid" 2>/dev/null; wait "$pid"
      return
    fi
    sleep 0.2
  done
  sleep 1
  awk -v vmm="$1" '
    /^[0-9a-f]+-[0-9a-f]+ / { if (range != "") print "LAB-SMAPS vmm=" vmm, range, perms, size, rss, path
                               range = $1; perms = $2; path = ($6 == "" ? "[anon]" : $6); size = 0; rss = 0; next }
    $1 == "Size:" { size = $2 } $1 == "Rss:" { rss = $2 }
    END { if (range != "") print "LAB-SMAPS vmm=" vmm, range, perms, size, rss, path }' "/proc/$pid/smaps"
  echo "LAB-BENCH-STATUS vmm=$1 $(grep -E '^(VmRSS|VmHWM|Threads):' "/proc/$pid/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
  kill -TERM "$pid"
  wait "$pid"
}

echo "LAB-BENCH-BEGIN runs=$RUNS ovmm=$LAB_VMM qemu=$("$QEMU_SYSTEM" --version | head -1) qemu_args=$(echo "$QEMU_BENCH" | cut -d' ' -f2-3)"
i=1
while [ "$i" -le "$RUNS" ]; do
  time_run ovmm "$i"
  time_run qemu "$i"
  i=$((i + 1))
done
mem_run ovmm
mem_run qemu
echo "LAB-BENCH-END"
