#!/usr/bin/env bash
# npm run demo, part two: the dataset agent on loopback, as a person would
# type it. A store, two agents (n1 credentialed, n2) each in a mount namespace
# of its own, two datasets, a move, ending with `dataset status`. Needs root
# (loop devices, mkfs, mount, unshare); no device-mapper.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
if [[ $(id -u) != 0 ]]; then
	echo "agent demo: needs root (loop devices, mkfs, mount, unshare)" >&2
	exit 4
fi

work=$(mktemp -d /tmp/dvm-agent-demo.XXXXXX)
pids=()
cleanup() {
	set +e
	echo
	echo "== cleaning up"
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# The agents' namespaces (and their mounts) went with them; free the loop devices.
	for f in "$work"/lb/volumes/*; do
		[[ -e $f ]] || continue
		losetup -j "$f" | cut -d: -f1 | while read -r d; do losetup -d "$d"; done
	done
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bin" "$work/lb"
for f in "$repo"/bin/*.js; do ln -s "$f" "$work/bin/$(basename "$f" .js)"; done
export PATH="$work/bin:$PATH"
store=$work/store

bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[[ -t 1 ]] || bold="" dim="" off=""
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
run() {
	printf '%s$ %s%s\n' "$dim" "$*" "$off"
	eval "$@"
}
agent() { # node [args]: an agent in its own mount namespace, its log in $work/<node>.log
	local node=$1
	shift
	mkdir -p "$work/mnt-$node"
	unshare -m --propagation private dataset-agent --store "$store" --node "$node" --backend "loopback:$work/lb" \
		--mount-root "$work/mnt-$node" "$@" 2>"$work/$node.log" &
	pids+=($!)
	echo "dataset-agent --node $node $* (pid $!, log $work/$node.log)"
}
in_node() { # node command...: run a command in that agent's mount namespace
	local i=$1
	shift
	nsenter -t "${pids[$i]}" -m -- "$@"
}

say "two agents on one machine: n1 holds the credentials, n2 does local work only"
agent n1 --credentialed
agent n2

say "the operator's commands: two datasets on n1"
run dataset --store "$store" create web --size 64M --node n1
run dataset --store "$store" create db --size 320M --fs xfs --node n1
run dataset --store "$store" status --wait --timeout 120

say "a file on db, seen in n1's namespace"
in_node 0 sh -c "echo 'hello from n1' > '$work/mnt-n1/db/hello.txt' && sha256sum '$work/mnt-n1/db/hello.txt'"

say "move db to n2: n1 unmounts and releases it, the credentialed agent detaches and attaches it, n2 checks and mounts it"
run dataset --store "$store" move db --to n2
run dataset --store "$store" status --wait --timeout 120
in_node 1 sh -c "cat '$work/mnt-n2/db/hello.txt' && sha256sum '$work/mnt-n2/db/hello.txt'"

say "grow it online (+64M), seen by df on n2"
run dataset --store "$store" grow db +64M
run dataset --store "$store" status --wait --timeout 120
in_node 1 df -h "$work/mnt-n2/db"

say "what the agents did (one line per step)"
grep -hv ' pass ' "$work/n1.log" "$work/n2.log" | sort | cut -c1-160

say "where everything is"
run dataset --store "$store" list
run dataset --store "$store" status
