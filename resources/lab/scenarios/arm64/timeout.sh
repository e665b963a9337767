# --timeout 5 on a guest that would sleep forever: ovmm stops it, says so on stderr and exits
# 124, no sooner than 5 s after it started.
# lab-timeout: 180
run_ovmm sleep --timeout 5
expect_rc 124
expect_grep '[Tt]ime' "$ERR"
expect_between "$SECS" 5 120 "seconds until the timeout stopped ovmm"
