#!/bin/bash
# Install what test/vm/vm.sh needs on a Debian 12 host, only if missing.
# Idempotent and silent when everything is already there.
set -euo pipefail

# package -> a file vm.sh uses from it. Both must hold: the package installed
# ("install ok installed", so not half-configured or removed) and the file.
# busybox-static by name: the plain busybox package is dynamically linked.
declare -A want=(
	[qemu-system-x86]=/usr/bin/qemu-system-x86_64
	[linux-image-amd64]=
	[busybox-static]=/bin/busybox
	[cpio]=/usr/bin/cpio
	[lvm2]=/usr/sbin/lvm
	[kmod]=/usr/bin/kmod
	[xz-utils]=/usr/bin/xz # to unpack vmlinuz once: booting it packed costs ~5 s
)

missing=()
for pkg in "${!want[@]}"; do
	file=${want[$pkg]}
	if [[ -n $file && ! -x $file ]] ||
		 [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done
# linux-image-amd64 is a meta package: also insist on a kernel vm.sh can boot
# (the -cloud- flavour has no 9p)
have_kernel=0
for k in /boot/vmlinuz-*-amd64; do
	[[ -e $k && $k != *cloud* ]] && have_kernel=1
done
if ((!have_kernel)) && [[ " ${missing[*]} " != *" linux-image-amd64 "* ]]; then
	missing+=(linux-image-amd64)
fi
((${#missing[@]})) || exit 0

if ((EUID != 0)); then
	echo "test/vm/prereqs.sh: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "test/vm/prereqs.sh: installing ${missing[*]}" >&2
# Quiet, but keep the log so a failure can be diagnosed.
log=$(mktemp /tmp/dvm-prereqs.XXXXXX.log)
# One apt at a time with the tests' own installs (test/helpers/packages.ts).
install='a=(apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
"${a[@]}" update -q && date -u > /var/tmp/dvm-apt-updated && "${a[@]}" install -y -q --no-install-recommends "$@"'
if ! flock -w 1800 /var/tmp/dvm-apt.lock bash -c "$install" _ "${missing[@]}" >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "test/vm/prereqs.sh: apt-get failed (full log: $log)" >&2
	exit 1
fi
rm -f "$log"
