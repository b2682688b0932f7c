#!/bin/sh
# Host setup for `make test-image` (not part of the product): on a machine whose root lacks
# CAP_SYS_RESOURCE and whose cgroups are hybrid (v1 controllers + a v2 mount), podman's
# defaults (crun, systemd cgroups, journald events, raising the ulimits) fail. This writes a
# containers.conf that works there, only when none exists and only when running as root;
# anywhere else it does nothing.
set -eu
conf=/etc/containers/containers.conf
if [ "$(id -u)" != 0 ]; then
    echo "setup_host: not root, leaving container settings as they are"
    exit 0
fi
if [ -e "$conf" ]; then
    echo "setup_host: $conf exists, leaving it as it is"
    exit 0
fi
if ! command -v podman >/dev/null 2>&1; then
    echo "setup_host: no podman, nothing to set up"
    exit 0
fi
mkdir -p /etc/containers
cat > "$conf" <<'CONF'
# Written by tests/image/setup_host.sh for hosts with hybrid cgroups and no CAP_SYS_RESOURCE.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
echo "setup_host: wrote $conf"
