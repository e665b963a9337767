# A burst of malformed API requests (garbage bytes, wrong methods and paths, bad JSON, a huge
# Content-Length, a chunked body, half requests) is answered with 4xx/5xx, never reaches the
# VM, and leaves the guest running: its clock keeps ticking and it powers off on request.
# lab-timeout: 240
start_ovmm clock --api-socket "$LAB_DIR/api.sock"
wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
wait_for_count 2 '^OVMM-GUEST-CLOCK ' "$OUT" 60
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
n=$(tr -d '\r' < "$OUT" | grep -c '^OVMM-GUEST-CLOCK ')
wait_for_count $((n + 2)) '^OVMM-GUEST-CLOCK ' "$OUT" 60
api PUT /vm/power-off
wait_ovmm 120
expect_rc 0
expect_grep '^OVMM-GUEST-POWER-BUTTON$'
