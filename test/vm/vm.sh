#!/bin/bash
# Boot a throwaway qemu VM (Debian's 6.1 kernel, TCG) whose root is this
# host's root, read-only via 9p, under an overlay on tmpfs; run COMMAND there
# as root, in the caller's cwd and PATH; exit with COMMAND's status.
# See test/vm/README.md.
set -euo pipefail
# Everything is inside main, called on the last line: bash then has parsed
# the whole file before running any of it, so editing vm.sh does not break
# runs in progress (bash otherwise reads scripts as it goes).
main() {

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
prog="dvm-vm"

usage() {
	cat <<EOF
usage: test/vm/vm.sh [--timeout SECONDS] [--mem MB] [--smp N] [--env NAME[=VALUE]]...
                     [--rw DIR]... [--] COMMAND [ARGS...]
  --timeout SECONDS  kill the VM after this long (default 1200); exit 124
  --mem MB           guest memory (default 3072)
  --smp N            guest vCPUs (default 2)
  (defaults can also come from DVM_VM_TIMEOUT, DVM_VM_MEM, DVM_VM_SMP)
  --env NAME[=VAL]   pass NAME (from the caller's environment, or set to VAL);
                     DVM_* and NODE_OPTIONS are passed through anyway
  --rw DIR           make host directory DIR writable through (not discarded)
exit status: COMMAND's; 124 on timeout; 125 if the VM failed to report one.
env: DVM_VM_VERBOSE=1 prints timings and the guest console;
     DVM_VM_CACHE=DIR initramfs cache (default /var/tmp/dvm-vm);
     DVM_VM_KEEP=1 keeps the run directory.
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 125
}
verbose() { [[ ${DVM_VM_VERBOSE:-} == 1 ]] && echo "$prog: $*" >&2 || true; }

timeout_s=${DVM_VM_TIMEOUT:-1200} mem=${DVM_VM_MEM:-3072} smp=${DVM_VM_SMP:-2}
env_pass=() rw_dirs=()
while (($#)); do
	case $1 in
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--timeout=*) timeout_s=${1#*=}; shift ;;
	--mem) mem=${2:?}; shift 2 ;;
	--mem=*) mem=${1#*=}; shift ;;
	--smp) smp=${2:?}; shift 2 ;;
	--smp=*) smp=${1#*=}; shift ;;
	--env) env_pass+=("${2:?}"); shift 2 ;;
	--env=*) env_pass+=("${1#*=}"); shift ;;
	--rw) rw_dirs+=("${2:?}"); shift 2 ;;
	--rw=*) rw_dirs+=("${1#*=}"); shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) usage >&2; exit 2 ;;
	*) break ;;
	esac
done
(($#)) || { usage >&2; exit 2; }
[[ $timeout_s =~ ^[1-9][0-9]*$ && $mem =~ ^[1-9][0-9]*$ && $smp =~ ^[1-9][0-9]*$ ]] ||
	{ echo "$prog: --timeout, --mem and --smp take positive integers" >&2; exit 2; }

bash "$here/prereqs.sh" || die "prerequisites missing"

# --- what the guest will see ------------------------------------------------
cwd=$(pwd -P)
case "$cwd/" in
/proc/* | /sys/* | /dev/* | /run/*) die "cannot run from $cwd: the guest has its own /proc, /sys, /dev and /run" ;;
esac
tmpfs=1 # a fresh /tmp in the guest, unless that would hide the cwd
[[ $cwd/ == /tmp/* ]] && tmpfs=0
guest_env=()
for name in $(compgen -e); do
	[[ $name == DVM_* && $name != DVM_IN_VM || $name == NODE_OPTIONS ]] && guest_env+=("$name=${!name}")
done
for e in "${env_pass[@]}"; do
	if [[ $e == *=* ]]; then guest_env+=("$e")
	elif [[ -v $e ]]; then guest_env+=("$e=${!e}")
	fi
done
rw_real=()
for d in "${rw_dirs[@]}"; do
	[[ -d $d ]] || die "--rw $d: not a directory"
	rw_real+=("$(cd "$d" && pwd -P)")
done

# --- kernel: the newest non-cloud Debian kernel with 9p modules ------------
kver=""
for k in $(ls -1v /boot/vmlinuz-* 2>/dev/null | tac); do
	v=${k#/boot/vmlinuz-}
	[[ $v == *cloud* ]] && continue
	if grep -qE '/9p\.ko(\.[a-z]+)?:' "/lib/modules/$v/modules.dep" 2>/dev/null; then kver=$v; break; fi
done
[[ -n $kver ]] || die "no /boot/vmlinuz-* with 9p modules in /lib/modules (need linux-image-amd64, not -cloud-)"
moddir=/lib/modules/$kver

# --- initramfs: busybox + the modules for 9p over virtio-pci and overlay ---
# Load order from modules.dep: each line lists the full dependency closure,
# to be loaded last-first. Built-in modules are skipped.
resolve_modules() {
	local -A path_of=() deps_of=() seen=()
	local line key rel name m d i
	while IFS= read -r line; do
		key=${line%%:*}
		name=${key##*/}; name=${name%%.ko*}; name=${name//-/_}
		path_of[$name]=$key
		deps_of[$key]=${line#*: }
		[[ $line == *: ]] && deps_of[$key]=""
	done <"$moddir/modules.dep"
	for m in "$@"; do
		m=${m//-/_}
		if grep -qE "/${m//_/[-_]}\.ko$" "$moddir/modules.builtin"; then continue; fi
		key=${path_of[$m]:-}
		[[ -n $key ]] || die "module $m neither built in nor in $moddir/modules.dep"
		read -ra d <<<"${deps_of[$key]}"
		for ((i = ${#d[@]} - 1; i >= 0; i--)); do
			[[ -n ${seen[${d[i]}]:-} ]] || { seen[${d[i]}]=1; echo "${d[i]}"; }
		done
		[[ -n ${seen[$key]:-} ]] || { seen[$key]=1; echo "$key"; }
	done
}

cache=${DVM_VM_CACHE:-/var/tmp/dvm-vm}
mkdir -p "$cache"
key=$( { echo "$kver"; cat "$here/initramfs-init" "$here/vm.sh" "$moddir/modules.dep"; } | sha256sum)
initrd=$cache/initramfs-$kver-${key:0:16}.cpio.gz
if [[ ! -s $initrd ]]; then
	t0=$SECONDS
	build=$(mktemp -d "$cache/build.XXXXXX")
	mods=$(resolve_modules virtio_pci 9pnet_virtio 9p overlay)
	mkdir -p "$build/root/bin" "$build/root/modules" "$build/root"/{dev,proc,sys}
	cp /bin/busybox "$build/root/bin/busybox"
	for a in $(/bin/busybox --list); do
		[[ $a == busybox ]] || ln -s busybox "$build/root/bin/$a"
	done
	: >"$build/root/modules.list"
	for rel in $mods; do
		base=${rel##*/}
		case $base in # busybox insmod may lack decompression: store plain .ko
		*.ko) cp "$moddir/$rel" "$build/root/modules/$base" ;;
		*.ko.xz) xz -dc "$moddir/$rel" >"$build/root/modules/${base%.xz}" ;;
		*.ko.zst) zstd -qdc "$moddir/$rel" >"$build/root/modules/${base%.zst}" ;;
		*.ko.gz) gzip -dc "$moddir/$rel" >"$build/root/modules/${base%.gz}" ;;
		*) die "unexpected module file $rel" ;;
		esac
		echo "${base%.ko*}.ko" >>"$build/root/modules.list"
	done
	install -m 755 "$here/initramfs-init" "$build/root/init"
	(cd "$build/root" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$build/initrd"
	mv -f "$build/initrd" "$initrd" # atomic: concurrent runs may race here
	rm -rf "$build"
	verbose "built $initrd in $((SECONDS - t0)) s; modules: $(tr '\n' ' ' <<<"$mods")"
fi

# --- kernel image: boot the uncompressed ELF vmlinux through its PVH entry --
# Decompressing Debian's xz vmlinuz takes ~5 s under TCG; qemu can load the
# ELF directly when the kernel has CONFIG_PVH. Extracted once, cached.
is_elf() { [[ $(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; }
extract_vmlinux() { # bzImage out; the payload starts at its compressor's magic
	local fmt off
	for fmt in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08'; do
		for off in $(LC_ALL=C grep -obUaP "${fmt#*:}" "$1" 2>/dev/null | head -n 3 | cut -d: -f1); do
			case ${fmt%%:*} in # (tail gets SIGPIPE when the stream ends: fine)
			xz) tail -c +$((off + 1)) "$1" | xz -dc --single-stream >"$2" 2>/dev/null ;;
			zstd) tail -c +$((off + 1)) "$1" | zstd -qdc >"$2" 2>/dev/null ;;
			gzip) tail -c +$((off + 1)) "$1" | gzip -dc >"$2" 2>/dev/null ;;
			esac
			is_elf "$2" && return 0
		done
	done
	return 1
}
kernel=/boot/vmlinuz-$kver
if grep -q '^CONFIG_PVH=y' "/boot/config-$kver" 2>/dev/null; then
	vmlinux=$cache/vmlinux-$kver-$(stat -c '%s-%Y' "$kernel")
	if [[ ! -s $vmlinux ]]; then
		tmp=$(mktemp "$cache/vmlinux.XXXXXX")
		if extract_vmlinux "$kernel" "$tmp"; then
			mv -f "$tmp" "$vmlinux"
		else
			rm -f "$tmp"
			verbose "could not extract vmlinux from $kernel; booting it compressed"
		fi
	fi
	[[ -s $vmlinux ]] && kernel=$vmlinux
fi

# Leftovers of runs killed with SIGKILL, and superseded cache entries.
find "$cache" -maxdepth 1 \( -name 'run.*' -mmin +1440 -o -name 'build.*' -mmin +60 -o -name 'vmlinux.*' -mmin +60 \
	-o \( -name 'initramfs-*' -o -name 'vmlinux-*' \) -mmin +1440 \) \
	! -name "${initrd##*/}" ! -name "${kernel##*/}" -exec rm -rf {} + 2>/dev/null || true

# --- run ------------------------------------------------------------------
run=$(mktemp -d "$cache/run.XXXXXX")
qpid="" tails=()
cleanup() {
	local rc=$?
	set +e
	if [[ -n $qpid ]]; then kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; fi
	((${#tails[@]})) && kill "${tails[@]}" 2>/dev/null
	if [[ ${DVM_VM_KEEP:-} == 1 ]]; then echo "$prog: kept $run" >&2; else rm -rf "$run"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cp "$here/guest.sh" "$run/guest.sh"
: >"$run/stdout"
: >"$run/stderr"
DVM_CWD=$cwd DVM_PATH=$PATH DVM_ARGV=("$@") DVM_ENV=("${guest_env[@]}") DVM_RW=("${rw_real[@]}")
{
	echo "# written by test/vm/vm.sh"
	declare -p DVM_CWD DVM_PATH DVM_ARGV DVM_ENV DVM_RW
	echo "DVM_VM_VERBOSE=${DVM_VM_VERBOSE:-0}"
	echo "source /run/dvm/guest.sh"
} >"$run/job.sh"

q() { printf '%s' "${1//,/,,}"; } # qemu option values escape commas by doubling
qemu=(qemu-system-x86_64 -nodefaults -no-user-config
	-machine pc -accel tcg,thread=multi -cpu max -smp "$smp" -m "$mem"
	-display none -monitor none -serial "file:$(q "$run")/console.log" -no-reboot
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 quiet loglevel=0 panic=-1 rdinit=/init dvm.tmpfs=$tmpfs dvm.verbose=${DVM_VM_VERBOSE:-0}"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$(q "$run"),mount_tag=dvmrun,security_model=none,multidevs=remap")
for i in "${!rw_real[@]}"; do
	qemu+=(-virtfs "local,path=$(q "${rw_real[$i]}"),mount_tag=rw$i,security_model=none,multidevs=remap")
done

start=$(date +%s.%N)
timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null >"$run/qemu.log" 2>&1 &
qpid=$!
# The guest appends to these over 9p; each write has reached the host file
# before the guest's write() returns, so following them loses nothing.
tail -n +1 -s 0.2 -f --pid="$qpid" "$run/stdout" &
tails+=($!)
tail -n +1 -s 0.2 -f --pid="$qpid" "$run/stderr" >&2 &
tails+=($!)
qrc=0
wait "$qpid" || qrc=$?
qpid=""
wait "${tails[@]}" 2>/dev/null || true
tails=()
end=$(date +%s.%N)

if [[ ${DVM_VM_VERBOSE:-} == 1 ]]; then
	# host wall clock: the t_* files' mtimes are set by qemu as the guest writes
	at() { awk -v a="$start" -v b="$(stat -c %.3Y "$run/$1" 2>/dev/null || echo "$start")" \
		'BEGIN{printf "%.1f", b-a}'; }
	verbose "kernel $kernel, initramfs $initrd, -smp $smp -m $mem"
	verbose "wall: stage 2 (bash) started at $(at t_ready) s, COMMAND at $(at t_cmd) s," \
		"ended at $(at t_done) s, VM gone at $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s" \
		"(guest uptime: $(cat "$run/t_ready" 2>/dev/null), $(cat "$run/t_cmd" 2>/dev/null), $(cat "$run/t_done" 2>/dev/null))"
	verbose "--- guest console ---"
	tr -d '\r' <"$run/console.log" >&2 || true
	verbose "--- qemu ---"
	cat "$run/qemu.log" >&2 || true
fi

if ((qrc == 124 || qrc == 137)); then
	echo "$prog: timed out after ${timeout_s} s; VM killed" >&2
	exit 124
fi
status=$(cat "$run/status" 2>/dev/null || true)
if [[ $status =~ ^[0-9]+$ ]]; then
	exit "$status"
fi
{
	echo "$prog: the VM stopped without reporting COMMAND's exit status (qemu exit $qrc)"
	[[ -s $run/qemu.log ]] && sed 's/^/  qemu: /' "$run/qemu.log"
	[[ -s $run/console.log ]] && tr -d '\r' <"$run/console.log" | tail -n 20 | sed 's/^/  console: /'
} >&2
exit 125
}

main "$@"
