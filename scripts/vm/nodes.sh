# Sourced by scripts/vm/init.sh (the guest's /init) when the kernel command
# line holds vmtest=nodes, after the Bluetooth modules and btvirt are up:
# two PACT nodes on one emulated radio and an exposure server on the
# guest's loopback (internal/vmtest, TestTwoNodesOnRealKernel; docs/vm-test.md).
#
# Node a (pact-bridge run --hci 0) and node b (--hci 1) each chirp and scan
# on their one controller, as uid 1000 with only CAP_NET_ADMIN and
# CAP_NET_RAW. Once b has heard a in three distinct minutes, a shares
# through its dashboard's JSON API with a permission number the server
# issued; the server cuts one-minute batches and b, syncing every 10 s,
# must report the exposure. Then a chirp repeater starts on the third
# controller, node a stops once the repeater has heard it, and b must hear
# a's chirp again from the repeater. The guest prints what the host needs
# to compute the truth: both contact logs, both seed logs with a's share
# and its entries, both nodes' status and exposures JSON, and the logs.
# Lines the test reads start with VMTEST-, CONTACT, SEED and SHARE.

# stamp prints a phase's wall-clock time (Unix seconds) for the test's figures.
stamp() { echo "VMTEST-TIME $1 $(date +%s)"; }

# alive fails unless both nodes and the server are still running.
alive() {
	for p in $spid $apid $bpid; do
		kill -0 "$p" 2>/dev/null || {
			cat /tmp/server.log /tmp/a.log /tmp/b.log /tmp/r.log 2>/dev/null
			fail "a node or the server stopped during $1"
		}
	done
}

# repeated_rows prints how many rows of node b's contact log a repeater
# brought.
repeated_rows() {
	vmcheck dump --db /tmp/b/device.db --tag poll 2>/dev/null |
		awk '$1 == "CONTACT" && $3 == "repeater"' | wc -l
}

# heard_minutes prints how many distinct minutes node b's contact log
# holds a native chirp in. Only node a chirps on this radio.
heard_minutes() {
	vmcheck dump --db /tmp/b/device.db --tag poll 2>/dev/null |
		awk '$1 == "CONTACT" && $3 == "pact" { print $5 }' | sort -u | wc -l
}

stamp boot
ip link set lo up || fail "bringing up the loopback interface"

# The exposure server: one permission number for the diagnosed owner of
# node a, then the API and the batch cutter with one-minute periods.
pact-server authority issue --data /tmp/srv --provider vm --count 1 >/tmp/number 2>/tmp/issue.log || {
	cat /tmp/issue.log
	fail "issuing a permission number"
}
number=$(head -n 1 /tmp/number)
[ -n "$number" ] || fail "pact-server authority issue printed no number"
# One diagnosed owner: publish the upload at the next cut, not held for
# others (docs/api.md, "Holding and chaff").
pact-server serve --data /tmp/srv --addr 127.0.0.1:8000 --period 1m --hold-uploads 1 >/tmp/server.log 2>&1 &
spid=$!
i=0
until wget -qO /tmp/batch-key http://127.0.0.1:8000/.well-known/pact/batch-key 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 120 ] || ! kill -0 $spid 2>/dev/null; then
		cat /tmp/server.log
		fail "the exposure server did not answer on 127.0.0.1:8000"
	fi
	sleep 0.5
done
key=$(sed -n 's/.*"public_key":"\([^"]*\)".*/\1/p' /tmp/batch-key)
[ -n "$key" ] || fail "no public_key in $(cat /tmp/batch-key)"
server="http://127.0.0.1:8000,key=$key,name=local"
echo "VMTEST-SERVER-KEY $key"

# Both nodes as a real host runs them (docs/deploy.md): an ordinary user
# holding only the two capabilities the adapter needs. They chirp the
# default native frame, version 2: 48 bytes in extended advertising PDUs
# (docs/native-frame.md §7.6), which the patched btvirt carries
# (docs/vm-test.md, "Native frame version 2").
vmcheck asuser --uid 1000 --caps net_admin,net_raw -- pact-bridge run --data /tmp/a --hci 0 \
	--dashboard 127.0.0.1:8081 --region VM --sync-every 10s --server "$server" >/tmp/a.log 2>&1 &
apid=$!
vmcheck asuser --uid 1000 --caps net_admin,net_raw -- pact-bridge run --data /tmp/b --hci 1 \
	--dashboard 127.0.0.1:8082 --region VM --sync-every 10s --server "$server" >/tmp/b.log 2>&1 &
bpid=$!
await /tmp/a.log 'msg="chirping and scanning"' $apid "node a did not start chirping and scanning on hci0"
await /tmp/b.log 'msg="chirping and scanning"' $bpid "node b did not start chirping and scanning on hci1"

stamp nodes-up

# Let them chirp and listen until b has heard a in three distinct minutes
# (at most 5 minutes).
i=0
heard=0
while [ "$heard" -lt 3 ]; do
	i=$((i + 1))
	[ $i -gt 30 ] && fail "node b heard node a in only $heard minutes"
	sleep 10
	alive "the radio phase"
	heard=$(heard_minutes)
done
echo "VMTEST-HEARD $heard"
stamp heard

# Node a's owner shares through the dashboard's API: JSON, on loopback
# without a token, no Sec-Fetch-Site (docs/dashboard.md, Security).
wget -qO /tmp/share.json --header 'Content-Type: application/json' \
	--post-data "{\"permission_number\":\"$number\"}" http://127.0.0.1:8081/api/v1/share 2>/tmp/share.err ||
	fail "POST /api/v1/share to node a: $(cat /tmp/share.err)"
echo "VMTEST-SHARE $(cat /tmp/share.json)"
grep -q '"accepted":true' /tmp/share.json || fail "node a's share was not accepted"
stamp shared

# The next one-minute batch carries a's seeds; b syncs every 10 s.
i=0
until wget -qO- http://127.0.0.1:8082/api/v1/status 2>/dev/null | grep -q '"exposed":true'; do
	i=$((i + 1))
	[ $i -gt 60 ] && fail "node b reported no exposure within 3 minutes of the share"
	alive "the wait for node b's exposure"
	sleep 3
done
stamp exposed

# Node a checks that its upload appeared in a signed batch (verified
# upload); give its next sync the time to see it.
i=0
until vmcheck seeds --db /tmp/a/device.db --tag poll 2>/dev/null | grep -q '^SHARE poll [0-9]* confirmed '; do
	i=$((i + 1))
	[ $i -gt 20 ] && break
	sleep 3
done
stamp confirmed

for n in a b; do
	port=8081
	[ $n = b ] && port=8082
	echo "VMTEST-JSON $n status $(wget -qO- http://127.0.0.1:$port/api/v1/status)"
	echo "VMTEST-JSON $n exposures $(wget -qO- http://127.0.0.1:$port/api/v1/exposures)"
done

# A chirp repeater on the third controller (docs/repeater.md), as a real
# host runs one: it hears the nodes' current chirps as soon as it scans,
# and brings each back 70 s after it first heard it, twice. Node a stops
# as soon as the repeater has heard two chirps (a's and b's), long before
# the first rebroadcast; node b must then log a's chirp with the source
# repeater. The delay is over a minute so that the rebroadcast falls in a
# later minute than b's last direct sighting of that chirp: within one
# minute the direct sighting wins (docs/repeater.md) and no repeater row
# would be left to see.
i=0
while [ ! -e /sys/class/bluetooth/hci2 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "btvirt created no hci2"
	sleep 0.1
done
vmcheck asuser --uid 1000 --caps net_admin,net_raw -- pact-bridge repeat --hci 2 --delay 70s --repeats 2 --every 20s \
	--stats-interval 1s >/tmp/r.log 2>&1 &
rpid=$!
await /tmp/r.log 'msg=repeating' $rpid "the repeater did not start on hci2"
await /tmp/r.log 'heard=\([2-9]\|[1-9][0-9]\)' $rpid "the repeater did not hear both nodes on hci2"
stamp repeater-heard
kill -INT $apid
wait $apid
arc=$?
stamp a-stopped
echo "VMTEST-REPEATED-BEFORE $(repeated_rows)"
i=0
until [ "$(repeated_rows)" -gt 0 ]; do
	i=$((i + 1))
	[ $i -gt 50 ] && fail "node b heard no repeated chirp within 150 s of node a's stop"
	for p in $spid $bpid $rpid; do
		kill -0 "$p" 2>/dev/null || {
			cat /tmp/server.log /tmp/b.log /tmp/r.log
			fail "node b, the repeater or the server stopped while b listened for the repeater"
		}
	done
	sleep 3
done
stamp repeated
echo "VMTEST-REPEATED-AFTER $(repeated_rows)"

kill -INT $bpid $rpid
wait $bpid
brc=$?
wait $rpid
rrc=$?
kill -INT $spid
wait $spid
stamp stopped
for n in a b r; do
	sed "s/^/VMTEST-LOG $n /" /tmp/$n.log
done
sed "s/^/VMTEST-LOG server /" /tmp/server.log
[ $arc = 0 ] || fail "node a exited with $arc"
[ $brc = 0 ] || fail "node b exited with $brc"
[ $rrc = 0 ] || fail "the repeater exited with $rrc"
for n in a b; do
	vmcheck dump --db /tmp/$n/device.db --tag $n || fail "dumping node $n's contact log"
	vmcheck seeds --db /tmp/$n/device.db --tag $n || fail "dumping node $n's seed log"
done
