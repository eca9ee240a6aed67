#!/usr/bin/env bash
# npm run demo: dvm's main job end to end on sparse files, as a person would
# type it. Runs directly where device-mapper works (root and
# /dev/mapper/control), otherwise inside the throwaway test VM.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

if [[ $(id -u) != 0 ]] || ! { exec 3<>/dev/mapper/control; } 2>/dev/null; then
	echo "demo: no usable device-mapper here; running the demo inside a throwaway VM (test/vm/vm.sh)"
	exec bash "$repo/test/vm/vm.sh" --timeout 1500 -- bash "$repo/demo/demo.sh"
fi
exec 3>&-

vg=dvmdemo
work=$(mktemp -d /tmp/dvm-demo.XXXXXX)
loops=()
mounted=""
cleanup() {
	set +e
	echo
	echo "== cleaning up"
	[[ -n $mounted ]] && umount "$mounted"
	if [[ ${#loops[@]} -gt 0 ]]; then
		# deactivate: desired state with no LVs, so dmactivate removes the VG's devices
		printf '%s\n' "${loops[@]}" | tm read $vg 2>/dev/null | vol-activate --none 2>/dev/null | dmactivate 2>/dev/null | dmexec >/dev/null 2>&1
		for l in "${loops[@]}"; do losetup -d "$l"; done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The tools, by their names (bin/*.js are the package's executables).
mkdir -p "$work/bin"
for f in "$repo"/bin/*.js; do ln -s "$f" "$work/bin/$(basename "$f" .js)"; done
export PATH="$work/bin:$PATH"

bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[[ -t 1 ]] || bold="" dim="" off=""
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
run() {
	printf '%s$ %s%s\n' "$dim" "$*" "$off"
	eval "$@"
}

say "three sparse 256 MiB files as PVs, on loop devices"
for i in 0 1 2; do
	truncate -s 256M "$work/pv$i.img"
	loops+=("$(losetup -f --show "$work/pv$i.img")")
done
printf '%s\n' "${loops[@]}"

say "create the volume group"
run "tm init $vg ${loops[*]} > /dev/null"
run "discover $vg"

say "carve logical volumes: linear, striped over two PVs, mirrored (raid1)"
run "discover $vg | tm update $vg -- lv-create data 64M > /dev/null"
run "discover $vg | tm update $vg -- lv-create fast 64M --stripes 2 > /dev/null"
run "discover $vg | tm update $vg -- lv-create safe 32M --mirrors 1 > /dev/null"
run "discover $vg | tm update $vg -- lv-extend data +16M > /dev/null"
run "discover $vg | xargs tm read $vg | report $vg"
run "discover $vg | xargs tm read $vg | report $vg --segments"
run "discover $vg | xargs tm read $vg | report $vg --pvs"

say "activate every LV: metadata -> desired dm state -> dmexec program -> kernel"
run "discover $vg | xargs tm read $vg | vol-activate --all | dmactivate | dmexec > $work/result.json"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`dmexec: ok=${r.ok}, ${r.steps.length} ioctl steps, ${(r.locked_bytes / 1048576).toFixed(1)} MiB locked while they ran`)' "$work/result.json"
run "ls -l /dev/mapper/ | grep $vg"

say "a filesystem on the linear LV, with data"
run "mkfs.ext4 -q /dev/mapper/$vg-data"
mkdir -p "$work/mnt"
run "mount /dev/mapper/$vg-data $work/mnt"
mounted="$work/mnt"
run "head -c 20M /dev/urandom > $work/mnt/payload && sync"
before=$(sha256sum <"$work/mnt/payload")
run "df -h $work/mnt | tail -1"

say "grow it while mounted: one atomic, two-phase commit of metadata and kernel tables"
run "discover $vg | tm update $vg --sync 'vol-activate --active | dmactivate | dmexec' -- lv-extend data +64M > /dev/null"
run "resize2fs /dev/mapper/$vg-data"
run "df -h $work/mnt | tail -1"
after=$(sha256sum <"$work/mnt/payload")
[[ $before == "$after" ]] && echo "payload checksum unchanged: ${after%% *}" || { echo "payload changed!"; exit 1; }

say "the volume group, with the kernel's view"
run "discover $vg | xargs tm read $vg | report $vg --dm"
run "discover $vg | xargs tm history $vg"
