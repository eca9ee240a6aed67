# Stage 2 of the dvm test VM: runs as PID 1 (the host's /bin/bash, on the
# overlay root), sourced by /run/dvm/job.sh, which vm.sh wrote and which set
# DVM_CWD, DVM_PATH, DVM_ARGV, DVM_ENV, DVM_RW and DVM_VM_VERBOSE first.
# Writes /run/dvm/status with COMMAND's exit status, then powers off.
# COMMAND's stdout/stderr go to files in the run share, which vm.sh follows:
# 9p writes are synchronous, so nothing is lost when the guest powers off.
# Every exec costs ~0.1 s under TCG, so builtins are preferred here.

run=/run/dvm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

uptime_to() { local u _; read -r u _ </proc/uptime; echo "$u" >"$run/$1"; }

fatal() {
	echo "dvm-vm guest: $*" >&2
	echo "dvm-vm guest: $*" >>"$run/stderr"
	/bin/busybox poweroff -f
}

uptime_to t_ready
if [[ $DVM_VM_VERBOSE == 1 ]]; then # trace stage 2 with timestamps to the console
	PS4='+ [$(read -r u _ </proc/uptime; echo "$u")] '
	set -x
fi

# Host directories to write through (vm.sh --rw DIR): 9p tags rw0, rw1, ...
for i in "${!DVM_RW[@]}"; do
	mkdir -p "${DVM_RW[$i]}" 2>/dev/null
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "rw$i" "${DVM_RW[$i]}" ||
		fatal "cannot mount --rw ${DVM_RW[$i]}"
done

# dm-mod and loop are required. The usual targets are loaded up front, best
# effort, so that their load (dm-raid's raid6 benchmark takes seconds) does
# not land in the middle of a test or benchmark; any other target is loaded
# by the kernel on first use. One modprobe for all: each exec costs here.
modprobe -a dm-mod loop || fatal "modprobe dm-mod loop failed"
modprobe -q -a dm-mirror dm-raid dm-flakey dm-delay dm-zero dm-snapshot \
	dm-thin-pool 2>/dev/null
# devtmpfs normally creates it (misc device "mapper/control"), but be sure.
if [[ ! -c /dev/mapper/control ]]; then
	mkdir -p /dev/mapper
	mknod -m 600 /dev/mapper/control c 10 236
fi

{ set +x; } 2>/dev/null
uptime_to t_cmd
cd "$DVM_CWD" || fatal "cannot cd to $DVM_CWD"
(
	# a clean environment, without paying for an exec of env -i
	for v in $(compgen -e); do unset "$v"; done
	# DM_DISABLE_UDEV: without it dmsetup neither creates nor removes
	# /dev/mapper nodes here (it leaves them to a udev that does not exist).
	export HOME=/root PATH="$DVM_PATH" DVM_IN_VM=1 DM_DISABLE_UDEV=1
	for e in "${DVM_ENV[@]}"; do export "$e"; done
	if ! type -t -- "${DVM_ARGV[0]}" >/dev/null; then
		echo "dvm-vm: ${DVM_ARGV[0]}: command not found in the VM (PATH=$PATH)" >&2
		exit 127
	fi
	exec "${DVM_ARGV[@]}"
) </dev/null >>"$run/stdout" 2>>"$run/stderr"
rc=$?

uptime_to t_done
echo "$rc" >"$run/status"
/bin/busybox poweroff -f
