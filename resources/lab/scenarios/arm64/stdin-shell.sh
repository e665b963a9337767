# A line written to ovmm's stdin reaches the guest's shell through the UART's receive interrupt
# and the answer comes back on stdout; then `poweroff -f` through stdin ends the guest, exit 0.
# lab-timeout: 180
start_ovmm shell
wait_for '^OVMM-GUEST-SHELL' "$OUT" 120
sleep 1
send_line 'echo $((6*7))-ok'
wait_for '^42-ok' "$OUT" 30
send_line 'poweroff -f'
wait_ovmm 60
expect_rc 0
