#!/usr/bin/env bash
# Installs strata on this machine, as root; running it again changes nothing it
# should not. Builds the release binary (or takes STRATA_BINARY), then installs:
#   $PREFIX/bin/strata                         (PREFIX defaults to /usr/local)
#   $PREFIX/share/man/man1/strata*.1           man pages, from the same definitions as --help
#   bash, zsh and fish completions under $PREFIX/share
#   $SYSCONFDIR/strata/strata.toml             from etc/strata.toml, mode 0600, only if absent
#   $UNITDIR/strata-backup.{service,timer}, strata-mount.service   (installed, not enabled)
#   $PREFIX/share/doc/strata/examples/         the cron file and the units
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
PREFIX="${PREFIX:-/usr/local}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
umask 022

if [ -n "${STRATA_BINARY:-}" ]; then
    bin="$STRATA_BINARY"
else
    ensure_packages "${BUILD_PACKAGES[@]}"
    ensure_cargo
    cargo build --release --quiet
    bin=target/release/strata
fi
# Stripped: the release profile keeps debug info for profiling, not for installs.
install -D -s -m 0755 "$bin" "$PREFIX/bin/strata"
strata="$PREFIX/bin/strata"

"$strata" generate man "$PREFIX/share/man/man1"
install -d "$PREFIX/share/bash-completion/completions" "$PREFIX/share/zsh/site-functions" \
    "$PREFIX/share/fish/vendor_completions.d"
"$strata" generate completions bash > "$PREFIX/share/bash-completion/completions/strata"
"$strata" generate completions zsh > "$PREFIX/share/zsh/site-functions/_strata"
"$strata" generate completions fish > "$PREFIX/share/fish/vendor_completions.d/strata.fish"

install -d -m 0700 "$SYSCONFDIR/strata"
if [ ! -e "$SYSCONFDIR/strata/strata.toml" ]; then
    install -m 0600 etc/strata.toml "$SYSCONFDIR/strata/strata.toml"
    echo "installed $SYSCONFDIR/strata/strata.toml: edit it, then \`strata config check\`"
fi

# The units and the cron file name the binary where it was installed.
examples="$PREFIX/share/doc/strata/examples"
install -d "$examples" "$UNITDIR"
for f in etc/systemd/*; do
    sed "s#/usr/local/bin/strata#$strata#g" "$f" > "$examples/$(basename "$f")"
    install -m 0644 "$examples/$(basename "$f")" "$UNITDIR/$(basename "$f")"
done
sed "s#/usr/local/bin/strata#$strata#g" etc/cron.d/strata > "$examples/cron.d-strata"
install -m 0644 etc/strata.toml "$examples/strata.toml"
if command -v systemctl > /dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
command -v mandb > /dev/null 2>&1 && mandb -q "$PREFIX/share/man" 2> /dev/null || true
echo "strata installed: $strata ($("$strata" --version))"
echo "schedule it: systemctl enable --now strata-backup.timer, or cp $examples/cron.d-strata /etc/cron.d/strata"
