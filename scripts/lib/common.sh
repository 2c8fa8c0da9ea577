# Shared by the scripts: install what is missing (Debian, as root), build strata.
# Sourced, not run.

# ensure_packages PKG...: apt-get installs the Debian packages that are not installed.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
        return 1
    fi
    echo "installing: ${missing[*]}" >&2
    if [ -z "${STRATA_APT_UPDATED:-}" ]; then
        apt-get update -qq
        export STRATA_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_cargo: the Rust toolchain must be there (rustup installs it; nothing else can).
ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (https://rustup.rs)" >&2; return 1; }
}

# The packages the tests and the demo need.
TEST_PACKAGES=(mariadb-server mariadb-client fuse3 zstd sqlite3 tar coreutils util-linux)
