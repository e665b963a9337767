# A line written to ovmm's stdin reaches the guest's shell and the answer comes back on stdout;
# then `poweroff -f` through stdin ends the guest and ovmm exits 0.
# lab-timeout: 240
start_ovmm shell
wait_for '^OVMM-GUEST-SHELL' "$OUT" 150
sleep 1
send_line 'echo $((6*7))-ok'
wait_for '^42-ok' "$OUT" 30
send_line 'poweroff -f'
wait_ovmm 60
expect_rc 0
