#!/bin/bash
# Install a sentinel-vip .deb into a Debian chroot and run it there against a real Redis
# and Sentinel: `--version`, then `check` as keepalived_script, which must pass (exit 0).
#
#   packaging/chroot-test.sh SUITE DEB        SUITE: bullseye (Debian 11) | trixie (13) | ...
#
# The base chroot (debootstrap minbase + python3, redis, keepalived) is built once and
# cached in $SENTINEL_VIP_CHROOT_CACHE (default /var/tmp/sentinel-vip-chroots); each run
# works on a copy, so the cache stays clean. Needs root and Debian's package mirror.
# Prints one summary line: key=value, e.g. suite=bullseye python=3.9.2 ... check=ok.
set -euo pipefail

suite=${1:?usage: chroot-test.sh SUITE DEB}
deb=$(readlink -f "${2:?usage: chroot-test.sh SUITE DEB}")
cache=${SENTINEL_VIP_CHROOT_CACHE:-/var/tmp/sentinel-vip-chroots}
mirror=${SENTINEL_VIP_CHROOT_MIRROR:-http://deb.debian.org/debian}
base=$cache/$suite

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

build_base() {
    local tmp=$base.tmp
    rm -rf "$tmp"
    mkdir -p "$cache"
    debootstrap --variant=minbase --include=python3,ca-certificates "$suite" "$tmp" "$mirror" \
        >"$cache/$suite.debootstrap.log" 2>&1
    # No service may start inside the chroot while packages are installed.
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod 0755 "$tmp/usr/sbin/policy-rc.d"
    chroot "$tmp" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends redis-server redis-sentinel redis-tools keepalived \
        >>"$cache/$suite.debootstrap.log" 2>&1
    chroot "$tmp" apt-get clean
    mv "$tmp" "$base"
}

t0=$(now)
if [ ! -x "$base/usr/bin/python3" ]; then
    build_base
    base_s=$(elapsed "$t0")
else
    base_s=cached
fi

root=$(mktemp -d "$cache/$suite.run.XXXXXX")
pids=()
stop_servers() {
    # Servers started in the chroot hold /dev open: wait for them before unmounting.
    local pidfile pid deadline
    for pidfile in "${pids[@]}"; do
        pid=$(cat "$root$pidfile" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null || continue
        deadline=$(( $(date +%s) + 10 ))
        while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    done
}
cleanup() {
    set +e
    stop_servers
    local m ok=1
    for m in dev proc; do
        if mountpoint -q "$root/$m" && ! umount "$root/$m"; then ok=0; fi
    done
    # Never delete through a mount that is still there.
    if [ "$ok" = 1 ]; then
        rm -rf --one-file-system "$root"
    else
        echo "chroot-test: $root still has mounts; left in place" >&2
    fi
}
trap cleanup EXIT
cp -a "$base/." "$root/"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"

t1=$(now)
cp "$deb" "$root/tmp/"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "/tmp/$(basename "$deb")" >"$root/tmp/install.log" 2>&1 || { cat "$root/tmp/install.log"; exit 1; }
install_s=$(elapsed "$t1")

python=$(chroot "$root" /usr/bin/python3 -c 'import platform; print(platform.python_version())')
version=$(chroot "$root" /usr/sbin/sentinel-vip --version | awk '{print $NF}')

redis_port=$(free_port)
sentinel_port=$(free_port)
chroot "$root" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --daemonize yes \
    --pidfile /tmp/redis.pid --logfile /tmp/redis.log
pids+=(/tmp/redis.pid)
cat >"$root/tmp/sentinel.conf" <<CONF
port $sentinel_port
bind 127.0.0.1
daemonize yes
pidfile /tmp/sentinel.pid
logfile /tmp/sentinel.log
sentinel monitor mymaster 127.0.0.1 $redis_port 1
CONF
chroot "$root" redis-sentinel /tmp/sentinel.conf
pids+=(/tmp/sentinel.pid)

cat >"$root/tmp/sentinel-vip.toml" <<CONF
master_name = "mymaster"
[redis]
host = "127.0.0.1"
port = $redis_port
[sentinel]
addresses = ["127.0.0.1:$sentinel_port"]
[node]
addresses = ["127.0.0.1:$redis_port"]
allow_loopback = true
[check]
track_file = "/run/sentinel-vip/track"
[log]
syslog = false
CONF
chmod 0644 "$root/tmp/sentinel-vip.toml"

# As keepalived runs it: the script user, no shell, an empty environment. Sentinel may take
# a moment to answer for a fresh master: retry until a deadline.
check_rc=-1
deadline=$(( $(date +%s) + 20 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    check_rc=0
    chroot --userspec=keepalived_script:keepalived_script "$root" env -i \
        /usr/sbin/sentinel-vip --config /tmp/sentinel-vip.toml check >"$root/tmp/check.out" 2>"$root/tmp/check.err" \
        || check_rc=$?
    [ "$check_rc" -eq 0 ] && break
    sleep 0.2
done
track=$(cat "$root/run/sentinel-vip/track" 2>/dev/null || echo missing)
result=fail
[ "$check_rc" -eq 0 ] && [ "$track" = 1 ] && result=ok

echo "suite=$suite python=$python version=$version base_s=$base_s install_s=$install_s" \
    "deb_bytes=$(stat -c %s "$deb") check_rc=$check_rc track=$track check=$result"
if [ "$result" != ok ]; then
    cat "$root/tmp/check.out" "$root/tmp/check.err" >&2
    exit 1
fi
