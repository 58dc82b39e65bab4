#!/bin/bash
# The watcher on an older Debian: Python 3.9 and Redis 6.0 (Debian 11), inside the debootstrap
# root packaging/chroot-test.sh builds and caches. Runs tests/chroot/watch_driver.py there
# with the root's own python3, redis-server and redis-sentinel, against the given zipapp
# (and BASELINE, another build, for comparison). Needs root; hold the shared lock.
#
#   tests/chroot/watch-chroot-test.sh SUITE PYZ [BASELINE_PYZ]
#
# Prints the driver's key=value lines; exits non-zero when the new build fails a check.
set -euo pipefail

suite=${1:?usage: watch-chroot-test.sh SUITE PYZ [BASELINE_PYZ]}
pyz=$(readlink -f "${2:?usage: watch-chroot-test.sh SUITE PYZ [BASELINE_PYZ]}")
baseline=${3:+$(readlink -f "$3")}
cache=${SENTINEL_VIP_CHROOT_CACHE:-/var/tmp/sentinel-vip-chroots}
base=$cache/$suite
here=$(dirname "$(readlink -f "$0")")

if [ ! -x "$base/usr/bin/redis-sentinel" ]; then
    echo "watch-chroot-test: no cached $suite root in $cache: build it with" \
        "packaging/chroot-test.sh $suite dist/sentinel-vip_*_all.deb (make deb)" >&2
    exit 2
fi

root=$(mktemp -d "$cache/$suite.watch.XXXXXX")
cleanup() {
    set +e
    # Servers the driver started hold /dev open; it stops them, but be sure.
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        if [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ]; then kill -9 "$pid"; fi
    done
    sleep 0.2
    local m ok=1
    for m in dev proc; do
        if mountpoint -q "$root/$m" && ! umount "$root/$m"; then ok=0; fi
    done
    if [ "$ok" = 1 ]; then
        rm -rf --one-file-system "$root"
    else
        echo "watch-chroot-test: $root still has mounts; left in place" >&2
    fi
}
trap cleanup EXIT
cp -a "$base/." "$root/"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
install -m 0755 "$pyz" "$root/tmp/new.pyz"
args=(/tmp/new.pyz)
if [ -n "$baseline" ]; then
    install -m 0755 "$baseline" "$root/tmp/baseline.pyz"
    args+=(/tmp/baseline.pyz)
fi
install -m 0644 "$here/watch_driver.py" "$root/tmp/watch_driver.py"
echo "suite=$suite"
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin WATCH_ROUNDS="${WATCH_ROUNDS:-10}" \
    /usr/bin/python3 /tmp/watch_driver.py "${args[@]}"
