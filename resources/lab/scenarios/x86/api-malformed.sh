# A burst of malformed API requests (garbage bytes, wrong methods and paths, bad JSON, a huge
# Content-Length, a chunked body, half requests) is answered with 4xx/5xx, never reaches the
# VM, and leaves the guest running: its clock keeps ticking and it powers off on request.
# lab-timeout: 240
start_ovmm clock --api-socket "$LAB_DIR/api.sock"
wait_for '^OVMM-GUEST-POWER-BUTTON-READY' "$OUT" 150
wait_for_count 2 '^OVMM-GUEST-CLOCK ' "$OUT" 60
api_malformed_burst
n=$(tr -d '\r' < "$OUT" | grep -c '^OVMM-GUEST-CLOCK ')
wait_for_count $((n + 2)) '^OVMM-GUEST-CLOCK ' "$OUT" 60
api PUT /vm/power-off
wait_ovmm 120
expect_rc 0
expect_grep '^OVMM-GUEST-POWER-BUTTON$'
