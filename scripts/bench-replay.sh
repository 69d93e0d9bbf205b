#!/usr/bin/env bash
# Whole-file speed of findmy-harvester replay against tshark, in one run on
# the same generated capture (docs/performance.md, "findmy-harvester").
#
#   scripts/bench-replay.sh            # 1,000,000 reports
#   COUNT=100000 scripts/bench-replay.sh
#   BASE_SRC=/path/to/other/checkout scripts/bench-replay.sh
#
# With BASE_SRC set, the findmy-harvester built from that source tree also
# runs the worst case (sqlite-distinct-base), in the same run, as the
# baseline of a change to the database path.
#
# Needs go and tshark (Debian package tshark). Runs:
#   parse   replay, outputs off: frames -> classified sightings, counted
#   jsonl   replay --format jsonl > /dev/null
#   sqlite  replay --db (fresh file), realistic crowd: repeats merge per minute
#   sqlite-distinct  replay --db on a capture where every sighting is its own
#           (chirp, minute) row, the database's worst case
#   tshark  tshark -T fields with the same fields (time, PDU type, address,
#           RSSI, company, manufacturer data) > /dev/null
#   crowd-jsonl, crowd-tshark  the same two on the crowd workload: only
#           full-form Find My reports 1 ms apart, cycling through 4,096
#           random keys, about half off the curve (synth --crowd-keys)
set -euo pipefail

COUNT=${COUNT:-1000000}
cd "$(dirname "$0")/.."
command -v tshark >/dev/null || { echo "bench-replay: tshark not found (apt-get install tshark)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-replay.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

BIN=$WORK/findmy-harvester
go build -o "$BIN" ./cmd/findmy-harvester
BASE_BIN=
if [ -n "${BASE_SRC:-}" ]; then
	BASE_BIN=$WORK/findmy-harvester-base
	(cd "$BASE_SRC" && go build -o "$BASE_BIN" ./cmd/findmy-harvester)
fi
"$BIN" synth --count "$COUNT" --out "$WORK/crowd.btsnoop" 2>/dev/null
# One report a minute apart: no two sightings share a (chirp, minute).
"$BIN" synth --count "$COUNT" --gap 1m --out "$WORK/distinct.btsnoop" 2>/dev/null
"$BIN" synth --count "$COUNT" --gap 1ms --crowd-keys 4096 --extended 0 --out "$WORK/keys.btsnoop" 2>/dev/null

TIMEFORMAT='%R %U %S'
# run NAME CMD...: times CMD, keeps its stderr in $WORK/NAME.err.
run() {
	local name=$1
	shift
	{ time "$@" >/dev/null 2>"$WORK/$name.err"; } 2>"$WORK/$name.time"
}
summary() { # summary NAME FIELD: a key=value of the harvester's summary line
	grep -o " $2=[0-9]*" "$WORK/$1.err" | tail -1 | cut -d= -f2
}

run parse "$BIN" replay --stats-interval 0 "$WORK/crowd.btsnoop"
run jsonl "$BIN" replay --stats-interval 0 --format jsonl "$WORK/crowd.btsnoop"
run sqlite "$BIN" replay --stats-interval 0 --db "$WORK/crowd.db" "$WORK/crowd.btsnoop"
run sqlite-distinct "$BIN" replay --stats-interval 0 --db "$WORK/distinct.db" "$WORK/distinct.btsnoop"
runs="parse jsonl sqlite sqlite-distinct"
if [ -n "$BASE_BIN" ]; then
	run sqlite-distinct-base "$BASE_BIN" replay --stats-interval 0 --db "$WORK/distinct-base.db" "$WORK/distinct.btsnoop"
	runs="$runs sqlite-distinct-base"
fi
run tshark tshark -r "$WORK/crowd.btsnoop" -T fields -E separator=, \
	-e frame.time_epoch -e bthci_evt.le_advts_event_type -e bthci_evt.bd_addr -e bthci_evt.rssi \
	-e btcommon.eir_ad.entry.company_id -e btcommon.eir_ad.entry.data
run crowd-jsonl "$BIN" replay --stats-interval 0 --format jsonl "$WORK/keys.btsnoop"
run crowd-tshark tshark -r "$WORK/keys.btsnoop" -T fields -E separator=, \
	-e frame.time_epoch -e bthci_evt.le_advts_event_type -e bthci_evt.bd_addr -e bthci_evt.rssi \
	-e btcommon.eir_ad.entry.company_id -e btcommon.eir_ad.entry.data

for n in $runs crowd-jsonl; do
	if [ "$(summary "$n" reports)" != "$COUNT" ]; then
		echo "bench-replay: $n did not read $COUNT reports:" >&2
		cat "$WORK/$n.err" >&2
		exit 1
	fi
done
tshark_lines=$(tshark -r "$WORK/crowd.btsnoop" -T fields -e frame.number 2>/dev/null | wc -l)
[ "$tshark_lines" = "$COUNT" ] || { echo "bench-replay: tshark saw $tshark_lines records, want $COUNT" >&2; exit 1; }

echo "capture: $COUNT advertising reports, $(stat -c %s "$WORK/crowd.btsnoop") bytes (btsnoop)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo
printf '%-16s %9s %9s %14s %16s %14s\n' run wall_s cpu_s reports/s sightings/s rows/s
for n in $runs tshark crowd-jsonl crowd-tshark; do
	read -r real user sys <"$WORK/$n.time"
	if [ "$n" = tshark ] || [ "$n" = crowd-tshark ]; then
		s=- r=-
	else
		s=$(( $(summary "$n" findmy) + $(summary "$n" pact) ))
		r=$(summary "$n" rows_written || true)
	fi
	awk -v n="$n" -v real="$real" -v cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" -v c="$COUNT" -v s="$s" -v r="${r:--}" 'BEGIN{
		printf "%-16s %9.2f %9.2f %14.0f %16s %14s\n", n, real, cpu, c/real,
			(s=="-" ? "-" : sprintf("%.0f", s/real)), (r=="-"||r=="" ? "-" : sprintf("%.0f", r/real))
	}'
done
read -r treal _ <"$WORK/tshark.time"
read -r jreal _ <"$WORK/jsonl.time"
read -r preal _ <"$WORK/parse.time"
awk -v t="$treal" -v j="$jreal" -v p="$preal" 'BEGIN{printf "\nspeed-up over tshark: %.1fx (jsonl), %.1fx (parse only)\n", t/j, t/p}'
read -r ctreal _ <"$WORK/crowd-tshark.time"
read -r cjreal _ <"$WORK/crowd-jsonl.time"
awk -v t="$ctreal" -v j="$cjreal" 'BEGIN{printf "crowd workload, speed-up over tshark: %.1fx (jsonl)\n", t/j}'
echo "crowd workload key checks: $(grep -o ' key_checks_computed=[0-9]*' "$WORK/crowd-jsonl.err" | tail -1)"
