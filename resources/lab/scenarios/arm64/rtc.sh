# The guest's clock comes from ovmm's PL031 RTC: Linux's rtc-pl031 driver registers it, sets the
# system clock from it with no RTC errors, and the guest's time matches L1's within two minutes.
# lab-timeout: 180
start_ovmm shell
wait_for '^OVMM-GUEST-SHELL' "$OUT" 120
sleep 1
send_line 'echo RTC-DATE $(date +%s); dmesg | grep -iE "rtc|pl031" | sed "s/^/RTC-LOG /"; echo RTC-DONE'
wait_for '^RTC-DONE' "$OUT" 30
send_line 'poweroff -f'
wait_ovmm 60
expect_rc 0
expect_grep '^RTC-LOG .*rtc-pl031.*registered as rtc0'
expect_grep '^RTC-LOG .*setting system clock to'
expect_no_grep '^RTC-LOG .*([Ee]rror|[Ff]ail|[Ii]nvalid|[Ll]ost|[Bb]ad)'
guest=$(tr -d '\r' < "$OUT" | sed -n 's/^RTC-DATE \([0-9][0-9]*\)$/\1/p' | head -1)
host=$(date +%s)
[ -n "$guest" ] || fail "no RTC-DATE line from the guest"
d=$((host - guest)); [ "$d" -lt 0 ] && d=$((-d))
expect_between "$d" 0 120 "seconds between L1's clock and the guest's"
