# Shared by the scripts: sourced, not run.

# install_missing PKG...: apt-get installs those of the Debian packages PKG that are not
# installed yet (with sudo when not root); returns non-zero if that fails.
install_missing() {
    local need=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
    done
    [ ${#need[@]} -eq 0 ] && return 0
    echo "$(basename "$0" .sh): installing ${need[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}
