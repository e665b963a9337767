# Shared apt helpers for the lab's fetch scripts (sourced by bash, after the architecture's
# arch.env). Packages of the host's own architecture come through the host's apt as they are;
# packages of another architecture (arm64 on an amd64 host) come through a private apt state in
# LABDIR/apt (its own package lists, cache and an empty dpkg status), so the host's dpkg
# architectures and package database are never touched.
#   lab_apt_prepare LABDIR ARCH    set APT_ARGS for ARCH (amd64, arm64, ...)
#   lab_apt_cache ARGS...          apt-cache with APT_ARGS
#   lab_apt_download DIR PKG...    apt-get download into DIR, with one apt-get update and a retry
#   lab_apt_install_closure DIR PKG...   download PKG and everything it depends on (no
#                                  recommends) as if nothing were installed (foreign ARCH only)

lab_apt_prepare() {
  local lab=$1 arch=$2
  APT_ARGS=()
  APT_FOREIGN=0
  if [ "$(id -u)" -eq 0 ]; then APT_ARGS+=(-o APT::Sandbox::User=root); fi   # silences the _apt warning
  if [ "$arch" = "$(dpkg --print-architecture)" ]; then return 0; fi
  APT_FOREIGN=1
  APT_STATE=$lab/apt
  mkdir -p "$APT_STATE/lists/partial" "$APT_STATE/cache/archives/partial"
  touch "$APT_STATE/status"
  APT_ARGS+=(-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
    -o "Dir::State::Lists=$APT_STATE/lists" -o "Dir::Cache=$APT_STATE/cache"
    -o "Dir::State::status=$APT_STATE/status" -o Debug::NoLocking=1)
  if [ ! -f "$APT_STATE/updated" ]; then lab_apt_update && touch "$APT_STATE/updated"; fi
}

lab_apt_update() {
  echo "apt: apt-get update"
  apt-get "${APT_ARGS[@]}" -qq update ||
    { echo "apt: apt-get update failed: the lab needs the Debian archive (bookworm main) reachable" >&2; return 1; }
}

lab_apt_cache() {
  apt-cache "${APT_ARGS[@]}" "$@"
}

lab_apt_download() {
  local dir=$1; shift
  mkdir -p "$dir"
  if (cd "$dir" && apt-get "${APT_ARGS[@]}" -qq download "$@"); then return 0; fi
  echo "apt: downloading $* failed; running apt-get update and retrying"
  lab_apt_update || return 1
  (cd "$dir" && apt-get "${APT_ARGS[@]}" -qq download "$@") ||
    { echo "apt: cannot download $* from the Debian archive" >&2; return 1; }
}

lab_apt_install_closure() {
  local dir=$1; shift
  [ "$APT_FOREIGN" = 1 ] || { echo "apt: lab_apt_install_closure is for another architecture's packages" >&2; return 1; }
  local args=("${APT_ARGS[@]}" -o "Dir::Cache::archives=$dir")
  mkdir -p "$dir/partial"
  if apt-get "${args[@]}" -qq install --download-only -y --no-install-recommends "$@" >/dev/null; then return 0; fi
  echo "apt: downloading $* with its dependencies failed; running apt-get update and retrying"
  lab_apt_update || return 1
  apt-get "${args[@]}" -qq install --download-only -y --no-install-recommends "$@" >/dev/null ||
    { echo "apt: cannot download $* and its dependencies from the Debian archive" >&2; return 1; }
}
