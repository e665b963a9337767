# Shell helpers for the emulated host (L1) of both labs: the scenario runner and what scenarios
# call. Sourced by /init (runner) and by every scenario shell. busybox sh. What differs between
# the architectures comes from /lab/arch.env (resources/lab/ARCH/arch.env).
#
# Scenario API (a scenario is a sh file run with `set -u` in its own session and folder $LAB_DIR):
#   run_ovmm ACTION [ARGS...]     boot the lab guest with ovmm.test=ACTION, wait for ovmm to exit;
#                                 sets RC, OUT (guest console = ovmm stdout), ERR (ovmm stderr), SECS
#   run_vmm_raw [ARGS...]         run ovmm with exactly ARGS (no kernel/initrd added); same results
#   start_ovmm ACTION [ARGS...]   the same in the background, stdin from a pipe (see send_line);
#                                 sets OVMM_PID, OUT, ERR. OVMM_STDIN=tty uses L1's serial tty ($L1_TTY)
#   send_line TEXT                write TEXT and a newline into the running ovmm's stdin
#   wait_for PATTERN [FILE] [SECS]  wait until FILE (default $OUT) has a line matching PATTERN (ERE)
#   wait_ovmm [SECS]              wait for the background ovmm to exit; sets RC and SECS
#   expect_rc N | expect_grep PATTERN [FILE] | expect_no_grep PATTERN [FILE]
#   expect_count N PATTERN [FILE] | expect_lines N FILE | expect_field KEY MIN MAX [FILE]
#   expect_between VALUE MIN MAX WHAT | fail REASON | note TEXT
#   use_driver BDF DRIVER         bind L1's PCI device BDF to DRIVER (vfio-pci, e1000, ...) or to
#                                 none ("") through driver_override; fails the scenario if it can't
#   vfio_bind BDF...              use_driver BDF vfio-pci for each BDF
#   add_lab_user                  make user "lab" (uid 1000) for su, and let it reach / and /dev/kvm
#   exit_summary [FILE]           ovmm -v's per-vCPU exit lines (default $ERR), for the log
#   l1_kvm_mode                   arm64: VHE or nVHE, as L1's KVM initialized
#   make_option_rom FILE KIB      write a KIB KiB PCI option ROM image (0x55aa, a PCIR structure
#                                 saying KIB KiB, last image; random bytes elsewhere) to FILE
#   md5_of FILE                   FILE's MD5 checksum (hex only)
#   api METHOD PATH [BODY]        one control-API request through `ovmm api` to $LAB_DIR/api.sock
#                                 (start ovmm with --api-socket "$LAB_DIR/api.sock"); sets API_RC
#                                 (0 for a 2xx answer) and API_OUT (the file with the JSON answer)
#   api_power_off_check, api_malformed_burst, api_pause_resume_check, api_devices_check
#                                 the control-API checks both labs' api-* scenarios share
#   large_bar_check BDF           the 32 GiB BAR check of both labs' vfio-large-bar
#   json_field KEY [FILE]         the first value of "KEY" in a JSON answer (default $API_OUT)
# Every expect_* failure ends the scenario with FAIL and its reason.

. /lab/arch.env   # LAB_ARCH, GUEST_CMDLINE_BASE, QEMU_BENCH, ...
GUEST_KERNEL=/lab/guest/vmlinuz
GUEST_INITRD=/lab/guest/initrd.cpio
LAB_VMM=${LAB_VMM:-/bin/ovmm}
LAB_VERBOSE=${LAB_VERBOSE:-0}
MARKER=OVMM-GUEST-INIT
RUN_NO=0
START_T=0

uptime_s() { read -r up _ < /proc/uptime; echo "$up"; }
# seconds between two uptime readings, with two decimals
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
note() { echo "[$(uptime_s)] $*"; }

fail() {
  echo "$*" > "$LAB_DIR/fail"
  note "FAIL: $*"
  exit 1
}

# ---- running ovmm -------------------------------------------------------------------------------

guest_cmdline() { echo "$GUEST_CMDLINE_BASE ovmm.test=$1"; }

next_run() {
  RUN_NO=$((RUN_NO + 1))
  OUT=$LAB_DIR/ovmm-$RUN_NO.out
  ERR=$LAB_DIR/ovmm-$RUN_NO.err
}

run_vmm_raw() {
  next_run
  note "run $RUN_NO: $LAB_VMM $*"
  START_T=$(uptime_s)
  "$LAB_VMM" "$@" > "$OUT" 2> "$ERR" < /dev/null
  RC=$?
  SECS=$(elapsed "$START_T" "$(uptime_s)")
  note "run $RUN_NO: exit status $RC after $SECS s"
}

run_ovmm() {
  action=$1; shift
  run_vmm_raw --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$(guest_cmdline "$action")" "$@"
}

start_ovmm() {
  action=$1; shift
  next_run
  note "run $RUN_NO (background, stdin ${OVMM_STDIN:-pipe}): $LAB_VMM --kernel $GUEST_KERNEL --initrd $GUEST_INITRD --cmdline '$(guest_cmdline "$action")' $*"
  START_T=$(uptime_s)
  if [ "${OVMM_STDIN:-pipe}" = tty ]; then
    "$LAB_VMM" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$(guest_cmdline "$action")" "$@" \
      > "$OUT" 2> "$ERR" < "$L1_TTY" &
    OVMM_PID=$!
  else
    fifo=$LAB_DIR/stdin-$RUN_NO
    mkfifo "$fifo"
    "$LAB_VMM" --kernel "$GUEST_KERNEL" --initrd "$GUEST_INITRD" --cmdline "$(guest_cmdline "$action")" "$@" \
      > "$OUT" 2> "$ERR" < "$fifo" &
    OVMM_PID=$!
    exec 3> "$fifo"   # opening the write end lets ovmm's open of the read end complete
  fi
}

send_line() {
  note "stdin <- $1"
  printf '%s\n' "$1" >&3
}

# true while PID runs (a zombie counts as exited)
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ]
}

wait_for() {
  pattern=$1; file=${2:-$OUT}; limit=${3:-300}
  t0=$(uptime_s)
  while ! tr -d '\r' < "$file" | grep -qE "$pattern"; do
    if [ -n "${OVMM_PID:-}" ] && ! alive "$OVMM_PID"; then
      wait "$OVMM_PID"; RC=$?
      fail "ovmm exited (status $RC) before '$pattern' appeared in ${file##*/}"
    fi
    if [ "$(elapsed "$t0" "$(uptime_s)" | cut -d. -f1)" -ge "$limit" ]; then
      fail "'$pattern' did not appear in ${file##*/} within $limit s"
    fi
    sleep 0.2
  done
  note "seen '$pattern' in ${file##*/} $(elapsed "$START_T" "$(uptime_s)") s after start"
}

# wait until at least N lines of FILE match PATTERN (fails if ovmm exits first or after LIMIT s)
wait_for_count() {
  want=$1; pattern=$2; file=${3:-$OUT}; limit=${4:-150}
  t0=$(uptime_s)
  while [ "$(tr -d '\r' < "$file" | grep -cE "$pattern")" -lt "$want" ]; do
    if [ -n "${OVMM_PID:-}" ] && ! alive "$OVMM_PID"; then
      wait "$OVMM_PID"; RC=$?
      fail "ovmm exited (status $RC) before $want lines matched '$pattern'"
    fi
    if [ "$(elapsed "$t0" "$(uptime_s)" | cut -d. -f1)" -ge "$limit" ]; then
      fail "fewer than $want lines matched '$pattern' in ${file##*/} within $limit s"
    fi
    sleep 0.2
  done
  note "$want lines match '$pattern' in ${file##*/}"
}

wait_ovmm() {
  limit=${1:-60}
  t0=$(uptime_s)
  while alive "$OVMM_PID"; do
    if [ "$(elapsed "$t0" "$(uptime_s)" | cut -d. -f1)" -ge "$limit" ]; then
      kill -KILL "$OVMM_PID" 2>/dev/null
      fail "ovmm (pid $OVMM_PID) did not exit within $limit s"
    fi
    sleep 0.2
  done
  wait "$OVMM_PID"
  RC=$?
  SECS=$(elapsed "$START_T" "$(uptime_s)")
  exec 3>&-
  note "run $RUN_NO: exit status $RC after $SECS s"
  OVMM_PID=
}

# ---- control API ---------------------------------------------------------------------------------

api() {
  API_NO=$((${API_NO:-0} + 1))
  API_OUT=$LAB_DIR/api-$API_NO.json
  "$LAB_VMM" api "$LAB_DIR/api.sock" "$@" > "$API_OUT" 2>&1
  API_RC=$?
  note "api $1 $2: rc=$API_RC $(head -c 1500 "$API_OUT" | tr '\n' ' ')"
}

json_field() {
  grep -o "\"$1\":[^,}]*" "${2:-$API_OUT}" | head -1 | cut -d: -f2- | tr -d '"'
}

# ---- control API checks (the api-* scenarios of both labs) ----------------------------------------

# the guest runs with its boot time in GET /vm; PUT /vm/power-off presses the power button, the
# guest powers off, ovmm exits 0 and removes its socket (ovmm started with -v and --api-socket)
api_power_off_check() {
  api GET /vm
  [ "$API_RC" = 0 ] || fail "GET /vm failed: $(cat "$API_OUT")"
  [ "$(json_field state)" = running ] || fail "state is '$(json_field state)', expected running"
  [ "$(json_field boots)" = 1 ] || fail "boots is '$(json_field boots)', expected 1"
  boot_ms=$(json_field boot_time_ms)
  expect_between "$boot_ms" 1 200000 "boot_time_ms"
  expect_grep "boot timer: the guest reached userspace $boot_ms ms" "$ERR"
  note "BOOT-TIMER boot_time_ms=$boot_ms"
  api PUT /vm/power-off
  [ "$API_RC" = 0 ] || fail "PUT /vm/power-off failed: $(cat "$API_OUT")"
  expect_grep 'pressed the power button' "$API_OUT"
  wait_ovmm 120
  expect_rc 0
  expect_grep '^OVMM-GUEST-POWER-BUTTON$'
  expect_grep 'the guest powered off|acpi: guest entered S5' "$ERR"
  [ ! -e "$LAB_DIR/api.sock" ] || fail "the API socket is still there after ovmm exited"
}

# 27 malformed requests (9 kinds, 3 rounds) are answered 4xx/5xx by the API thread, never reach
# the VM: it is still running, not reset (guest action `clock`, ovmm with --api-socket)
api_malformed_burst() {
  sock=$LAB_DIR/api.sock
  raw() { printf "$1" | "$LAB_VMM" api --raw "$sock" > "$LAB_DIR/raw.out" 2>&1; head -1 "$LAB_DIR/raw.out" | tr -d '\r'; }
  bad=0
  for i in 1 2 3; do
    for req in \
      '\001\002\003\377\376garbage\r\n\r\n' \
      '\026\003\001\000\245\001\000' \
      'DELETE /vm HTTP/1.1\r\n\r\n' \
      'GET /nothing HTTP/1.1\r\n\r\n' \
      'PUT /vm/pause HTTP/1.1\r\nContent-Length: 9\r\n\r\n{not json' \
      'PUT /vm/reset HTTP/1.1\r\nContent-Length: 14\r\n\r\n{"force":true}' \
      'PUT /vm/pause HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n' \
      'PUT /vm/pause HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' \
      'GET /vm HTTP/7.0\r\n\r\n' \
      'GET /vm HT' \
      ''; do
      status=$(raw "$req")
      case $status in
        'HTTP/1.1 4'*|'HTTP/1.1 5'*|'') ;;
        *) fail "a malformed request got '$status'" ;;
      esac
      [ -n "$status" ] && bad=$((bad + 1))
    done
  done
  note "MALFORMED answered=$bad"
  [ "$bad" -eq 27 ] || fail "$bad malformed requests were answered, expected 27 (9 per round)"
  api GET /vm
  [ "$(json_field state)" = running ] || fail "state after the burst is '$(json_field state)'"
  [ "$(json_field boots)" = 1 ] || fail "the VM was reset by the burst"
}

# edu (L1 0000:00:0a.0, bound to vfio-pci) passed through, guest action `edu-sleep`: GET
# /vm/devices names it at 0000:00:01.0 with MSI and 1 vector, its decoding BARs at the addresses
# the guest's sysfs shows and BAR0's host address as L1's sysfs has it; the power button ends it
api_devices_check() {
  start_ovmm edu-sleep --vfio 0000:00:0a.0 --api-socket "$LAB_DIR/api.sock"
  wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
  expect_grep '^MSI-MODE bdf=0000:00:01\.0 vectors=1 mode=msi$'
  api GET /vm/devices
  [ "$API_RC" = 0 ] || fail "GET /vm/devices failed"
  tr -d '\n' < "$API_OUT" | grep -q '"guest_address":"0000:00:01.0","kind":"passthrough","host_device":"0000:00:0a.0"' ||
    fail "no passthrough device 0000:00:01.0 from host 0000:00:0a.0 in the list"
  tr -d '\n' < "$API_OUT" | grep -q '"interrupt_mode":"msi","interrupt_vectors":1' ||
    fail "the API does not report MSI with 1 vector"
  # BAR addresses: the API's (guest_address of decoding BARs) against the guest's sysfs resource
  api_bars=$(grep -o '"guest_address":"0x[0-9a-f]*","decoding":true' "$API_OUT" | cut -d'"' -f4 | sed 's/^0x0*/0x/' | sort | tr '\n' ' ')
  guest_bars=$(tr -d '\r' < "$OUT" | sed -n 's/^PCI-RESOURCES bdf=0000:00:01.0 //p' | tr ',' '\n' | cut -d- -f1 | sed 's/^0x0*/0x/' | sort | tr '\n' ' ')
  note "BARS api=[$api_bars] guest=[$guest_bars]"
  [ -n "$api_bars" ] || fail "the API shows no decoding BAR"
  [ "$api_bars" = "$guest_bars" ] || fail "BAR addresses differ: API [$api_bars], guest sysfs [$guest_bars]"
  host_bar0=$(head -1 /sys/bus/pci/devices/0000:00:0a.0/resource | cut -d' ' -f1 | sed 's/^0x0*/0x/')
  grep -q "\"host_address\":\"$host_bar0\"" "$API_OUT" || fail "host BAR0 $host_bar0 (L1 sysfs) not in the answer"
  api PUT /vm/power-off
  wait_ovmm 120
  expect_rc 0
  expect_grep '^OVMM-GUEST-POWER-BUTTON$'
}

# pause for 4 s, then resume: no guest clock lines while paused, a second pause and a power-off
# while paused are refused, and the guest's clock shows the gap (guest action `clock`)
api_pause_resume_check() {
  wait_for_count 3 '^OVMM-GUEST-CLOCK ' "$OUT" 60
  api PUT /vm/pause
  [ "$API_RC" = 0 ] || fail "PUT /vm/pause failed: $(cat "$API_OUT")"
  paused_at=$(tr -d '\r' < "$OUT" | grep -c '^OVMM-GUEST-CLOCK ')
  api GET /vm
  [ "$(json_field state)" = paused ] || fail "state while paused is '$(json_field state)'"
  api PUT /vm/pause
  [ "$API_RC" = 1 ] && grep -q 'already paused' "$API_OUT" || fail "a second pause was not refused"
  api PUT /vm/power-off
  [ "$API_RC" = 1 ] || fail "PUT /vm/power-off while paused was not refused: $(cat "$API_OUT")"
  sleep 4
  still=$(tr -d '\r' < "$OUT" | grep -c '^OVMM-GUEST-CLOCK ')
  [ "$still" -le $((paused_at + 1)) ] || fail "the guest printed $((still - paused_at)) clock lines while paused"
  api PUT /vm/resume
  [ "$API_RC" = 0 ] || fail "PUT /vm/resume failed: $(cat "$API_OUT")"
  wait_for_count $((still + 3)) '^OVMM-GUEST-CLOCK ' "$OUT" 60
  # the largest gap between consecutive guest clock readings
  gap=$(tr -d '\r' < "$OUT" | sed -n 's/^OVMM-GUEST-CLOCK n=[0-9]* uptime=\([0-9.]*\)$/\1/p' |
    awk 'NR > 1 && $1 - prev > max { max = $1 - prev } { prev = $1 } END { printf "%.2f", max }')
  note "PAUSE-GAP largest gap between guest clock lines: $gap s (paused 4 s)"
  expect_between "$gap" 3.5 30 "largest guest clock gap"
}

# ---- large BARs ---------------------------------------------------------------------------------

# the 32 GiB ivshmem-plain BAR2 of L1 device $1 (bound to vfio-pci) passed through: the guest sees
# it 32 GiB and naturally aligned, and reads back patterns written at its first and last qword
large_bar_check() {
  start_ovmm shell --vfio "$1" -v
  wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
  sleep 1
  send_line 'd=$(grep -l 0x1110 /sys/bus/pci/devices/*/device); d=${d%/device}; echo BAR2 $(sed -n 3p $d/resource); echo 1 > $d/enable'
  wait_for '^BAR2 ' "$OUT" 30
  bar=$(tr -d '\r' < "$OUT" | sed -n 's/^BAR2 \(0x[0-9a-f]*\) \(0x[0-9a-f]*\) .*/\1 \2/p' | head -1)
  start=${bar% *}; end=${bar#* }
  [ -n "$start" ] || fail "no BAR2 line from the guest"
  size=$(( end - start + 1 ))
  [ "$size" = $((32 << 30)) ] || fail "guest BAR2 is $size bytes, expected 32 GiB"
  [ $(( start % (32 << 30) )) = 0 ] || fail "guest BAR2 at $start is not aligned to its size"
  last=$(printf '0x%x' $(( end - 7 )))
  send_line "devmem $start 64 0x1122334455667788; devmem $last 64 0x99aabbccddeeff00; echo RD-FIRST \$(devmem $start 64); echo RD-LAST \$(devmem $last 64)"
  wait_for '^RD-LAST ' "$OUT" 60
  send_line 'poweroff -f'
  wait_ovmm 90
  expect_rc 0
  expect_grep '^RD-FIRST 0x1122334455667788'
  expect_grep '^RD-LAST 0x99AABBCCDDEEFF00|^RD-LAST 0x99aabbccddeeff00'
}

# ---- checks -------------------------------------------------------------------------------------

expect_rc() {
  [ "$RC" = "$1" ] || fail "ovmm exited with status $RC, expected $1"
}

expect_grep() {
  file=${2:-$OUT}
  tr -d '\r' < "$file" | grep -qE "$1" || fail "no line matching '$1' in ${file##*/}"
}

expect_no_grep() {
  file=${2:-$OUT}
  line=$(tr -d '\r' < "$file" | grep -E "$1" | head -1)
  [ -z "$line" ] || fail "unexpected line in ${file##*/}: $line"
}

expect_count() {
  file=${3:-$OUT}
  n=$(tr -d '\r' < "$file" | grep -cE "$2")
  [ "$n" -eq "$1" ] || fail "$n lines match '$2' in ${file##*/}, expected $1"
}

expect_lines() {
  n=$(grep -c '' "$2")
  [ "$n" -eq "$1" ] || fail "${2##*/} has $n lines, expected $1"
}

# the value of KEY=... on the first guest init marker line
marker_field() {
  tr -d '\r' < "${2:-$OUT}" | grep -m1 "^$MARKER " | tr ' ' '\n' | sed -n "s/^$1=//p"
}

expect_between() {
  v=$1; lo=$2; hi=$3; what=$4
  case $v in ''|*[!0-9.]*) fail "$what is '$v', not a number" ;; esac
  awk -v v="$v" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(v >= lo && v <= hi) }' ||
    fail "$what is $v, expected $lo..$hi"
}

expect_field() {
  expect_grep "^$MARKER " "${4:-$OUT}"
  expect_between "$(marker_field "$1" "${4:-$OUT}")" "$2" "$3" "guest marker field $1"
}

# ---- L1's PCI devices ---------------------------------------------------------------------------

# the name of the driver BDF is bound to, or nothing
driver_of() {
  l=/sys/bus/pci/devices/$1/driver
  [ -e "$l" ] && basename "$(readlink "$l")"
}

use_driver() {
  bdf=$1; want=$2; dev=/sys/bus/pci/devices/$bdf
  [ -e "$dev" ] || fail "L1 has no PCI device $bdf (check the scenario's lab-l1-args)"
  [ "$(driver_of "$bdf")" = "$want" ] && return 0
  echo "$want" > "$dev/driver_override"
  [ -e "$dev/driver" ] && echo "$bdf" > "$dev/driver/unbind"
  [ -n "$want" ] && echo "$bdf" > /sys/bus/pci/drivers_probe
  [ "$(driver_of "$bdf")" = "$want" ] ||
    fail "could not bind $bdf to '$want' (now: '$(driver_of "$bdf")')"
  note "$bdf is bound to '${want}' (IOMMU group $(basename "$(readlink "$dev/iommu_group")"))"
}

vfio_bind() {
  for b in "$@"; do use_driver "$b" vfio-pci; done
}

add_lab_user() {
  mkdir -p /etc
  grep -q '^root:' /etc/passwd 2>/dev/null || echo 'root:x:0:0:root:/:/bin/sh' >> /etc/passwd
  grep -q '^lab:' /etc/passwd || echo 'lab:x:1000:1000:lab:/tmp:/bin/sh' >> /etc/passwd
  grep -q '^root:' /etc/group 2>/dev/null || echo 'root:x:0:' >> /etc/group
  grep -q '^lab:' /etc/group || echo 'lab:x:1000:' >> /etc/group
  chmod 755 /   # the initramfs root comes from a mktemp -d folder (mode 700)
  chmod 666 /dev/kvm
}

exit_summary() {
  tr -d '\r' < "${1:-$ERR}" | grep -E 'vCPU [0-9]+: [0-9]+ exits' | while read -r line; do note "$line"; done
}

l1_kvm_mode() {
  dmesg | sed -n 's/.*kvm \[1\]: \(VHE\|Hyp\) mode initialized.*/\1/p' | head -1 | sed 's/Hyp/nVHE/'
}

# ---- files ---------------------------------------------------------------------------------------

# write byte values (decimal) at OFFSET of FILE, in place
poke_bytes() {
  file=$1; offset=$2; shift 2
  for b in "$@"; do
    # shellcheck disable=SC2059  # the format is the octal escape of the byte
    printf "\\$(printf '%03o' "$b")" | dd of="$file" bs=1 seek="$offset" conv=notrunc 2>/dev/null
    offset=$((offset + 1))
  done
}

make_option_rom() {
  file=$1; kib=$2; units=$((kib * 2))
  dd if=/dev/urandom of="$file" bs=1024 count="$kib" 2>/dev/null
  poke_bytes "$file" 0 85 170                       # 0x55 0xaa
  poke_bytes "$file" 24 64 0                        # PCIR structure at 0x40
  poke_bytes "$file" 64 80 67 73 82                 # "PCIR"
  poke_bytes "$file" 80 $((units % 256)) $((units / 256))   # image length, 512-byte units
  poke_bytes "$file" 85 128                         # last image
}

md5_of() { md5sum < "$1" | cut -d' ' -f1; }

# ---- runner (used by /init) ---------------------------------------------------------------------

# print FILE with a per-line prefix so the harness can attribute it (last 300 lines at most)
show_file() {
  echo "LAB-LOG $1 | ---- ${2##*/} ($(grep -c '' "$2") lines) ----"
  tail -n 300 "$2" | tr -d '\r' | sed "s/^/LAB-LOG $1 | /"
}

run_scenario() {
  name=$1; limit=$2
  dir=/tmp/lab/$name
  mkdir -p "$dir"
  t0=$(uptime_s)
  dmesg_before=$(dmesg | grep -c '')
  echo "LAB-SCENARIO-BEGIN $name uptime=$t0 limit=$limit"
  LAB_DIR=$dir LAB_NAME=$name setsid sh -c 'set -u; . /lab/lib.sh; . "/lab/scenarios/$LAB_NAME.sh"' \
    > "$dir/log" 2>&1 < /dev/null &
  pid=$!
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep "$limit" & nap=$!
    wait "$nap"
    touch "$dir/timed-out"
    kill -TERM -"$pid" 2>/dev/null
    sleep 2
    kill -KILL -"$pid" 2>/dev/null
  ) &
  watchdog=$!
  wait "$pid"
  rc=$?
  kill "$watchdog" 2>/dev/null
  kill -KILL -"$pid" 2>/dev/null   # anything the scenario left running
  secs=$(elapsed "$t0" "$(uptime_s)")
  verdict=PASS; reason=
  if [ -e "$dir/timed-out" ]; then
    verdict=FAIL; reason="scenario timed out after $limit s"
  elif [ -e "$dir/fail" ]; then
    verdict=FAIL; reason=$(head -1 "$dir/fail")
  elif [ "$rc" -ne 0 ]; then
    verdict=FAIL; reason="scenario script exited with status $rc"
  fi
  if [ "$verdict" = FAIL ] || [ "$LAB_VERBOSE" = 1 ]; then
    show_file "$name" "$dir/log"
    for f in "$dir"/ovmm-*; do
      [ -f "$f" ] && show_file "$name" "$f"
    done
    dmesg | tail -n +"$((dmesg_before + 1))" > "$dir/L1-dmesg"
    show_file "$name" "$dir/L1-dmesg"
  fi
  echo "LAB-SCENARIO-END $name $verdict secs=$secs $reason"
}
