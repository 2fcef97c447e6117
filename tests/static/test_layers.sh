#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The import graph follows the data flow: each daemon/ folder includes only the folders below it
# (the table here is the one the folders' README.md files state), every daemon source lives in a
# subsystem folder that has a README.md, and only the sources and the start-up check know BPF.
# Fails naming the file, the include and the rule it breaks.
set -u
cd "$(dirname "$0")/../.."

# folder: the daemon folders it may include (besides itself)
declare -A may=(
	[base]=""
	[proc]="base"
	[stacks]="base proc"
	[symbols]="base proc"
	[pprof]="base stacks symbols"
	[set]="base proc stacks symbols"
	[sources]="base proc stacks symbols pprof set"
	[http]="base proc stacks symbols pprof set"
)
# folders whose files may include BPF headers (bpf/*.h, skeletons, <bpf/libbpf.h>)
bpf_ok=" base sources "

bad=0
complain() {
	echo "layers: $*"
	bad=$((bad + 1))
}

for f in daemon/*.c daemon/*.h; do
	[ -e "$f" ] && complain "$f is not in a subsystem folder (daemon/FOLDER/)"
done
for d in daemon/*/; do
	d=${d%/}
	n=${d#daemon/}
	[ -f "$d/README.md" ] || complain "$d has no README.md saying what lives there and what it may include"
	[ -n "${may[$n]+set}" ] || { complain "$d is not in this test's table of folders: add its rule"; continue; }
	for f in "$d"/*.c "$d"/*.h; do
		[ -e "$f" ] || continue
		while IFS= read -r inc; do
			case "$inc" in
			*.skel.h | bpf/*) [[ "$bpf_ok" == *" $n "* ]] || complain "$f includes \"$inc\": $n/ knows nothing of BPF" ;;
			*/*)
				dep=${inc%%/*}
				[ "$dep" = "$n" ] && continue
				if [ -z "${may[$dep]+set}" ]; then
					complain "$f includes \"$inc\", which is in no daemon folder"
				elif [[ " ${may[$n]} " != *" $dep "* ]]; then
					complain "$f includes \"$inc\": $n/ may include only ${may[$n]:-nothing of daemon/} (daemon/$n/README.md)"
				fi
				;;
			esac
		done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
		if grep -q '^#[[:space:]]*include[[:space:]]*<bpf/' "$f" && [[ "$bpf_ok" != *" $n "* ]]; then
			complain "$f includes libbpf: $n/ knows nothing of BPF"
		fi
	done
done
[ $bad -eq 0 ] || { echo "$bad layering problem(s)"; exit 1; }
echo "ok: $(ls daemon/*/*.c | wc -l) sources in $(ls -d daemon/*/ | wc -l) folders follow the include rules"
