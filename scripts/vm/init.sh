#!/bin/busybox sh
# /init of the integration-test VM (internal/vmtest; docs/vm-test.md). btvirt
# emulates LE controllers that share one virtual radio: hci0 and hci1 on the
# kernel's virtual HCI driver, and a third served as H4 over a
# pseudo-terminal. For each HCI channel, hci0 advertises the frames of
# /frames.json through the hci package (vmcheck advertise) while
# findmy-harvester scans hci1 into a fresh contact log; the log and the
# harvester's JSON lines then go to the serial console for the test to
# check. Last, the pseudo-terminal controller is scanned twice: through the
# hci serial source alone (vmcheck serial), which prints its reports, then
# by findmy-harvester scan --serial, whose contact log and JSON lines are
# printed like a channel's. With vmtest=nodes on the kernel command line
# it runs scripts/vm/nodes.sh instead, after the same setup.
# "VMTEST-DONE" ends a good run; a failure leaves through isa-debug-exit
# with code 1 (QEMU exits 3).

/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /tmp
mount -t tmpfs tmp /tmp
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts

fail() {
	echo "VMTEST-FAIL $*"
	# Port 0xf4 is QEMU's isa-debug-exit: writing 1 exits with (1<<1)|1.
	printf '\001' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	poweroff -f
	sleep 10
}

# await FILE PATTERN PID WHAT waits up to 60 s for PATTERN in FILE, written
# by background process PID, and fails with WHAT if it never comes or PID
# dies first.
await() {
	i=0
	until grep -q "$2" "$1"; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 "$3" 2>/dev/null; then
			cat "$1"
			fail "$4"
		fi
		sleep 0.1
	done
}

# serial_tty sets tty to the pseudo-terminal of btvirt's H4 controller.
serial_tty() {
	tty=$(ls /dev/pts | grep -v ptmx | head -n 1)
	[ -n "$tty" ] || fail "btvirt -S made no pseudo-terminal"
	tty=/dev/pts/$tty
}

# Dependencies first; btvirt needs the AF_ALG modules for its own crypto.
while read -r m; do
	insmod "/modules/$m" || fail "insmod $m"
done </modules/order

btvirt -l3 -S >/tmp/btvirt.log 2>&1 &
i=0
while [ ! -e /sys/class/bluetooth/hci1 ]; do
	i=$((i + 1))
	[ $i -gt 300 ] && fail "btvirt created no hci1: $(cat /tmp/btvirt.log)"
	sleep 0.1
done

# The kernel command line picks the scenario: vmtest=nodes runs two
# pact-bridge nodes and an exposure server instead (scripts/vm/nodes.sh).
case " $(cat /proc/cmdline) " in
*" vmtest=nodes "*)
	. /nodes.sh
	echo VMTEST-DONE
	poweroff -f
	sleep 10
	;;
esac

# Without the two capabilities the harvester must be refused the adapter.
vmcheck asuser --uid 1000 --caps "" -- findmy-harvester scan --hci 1 --db /tmp/nocaps.db >/tmp/nocaps.out 2>&1
rc=$?
[ $rc != 0 ] || fail "the harvester scanned without CAP_NET_ADMIN and CAP_NET_RAW"
echo "VMTEST-NOCAPS rc=$rc $(tr '\n' ' ' </tmp/nocaps.out)"

# Modes: scan channel, extended scanning, advertiser channel, advertising
# kind. On the user channel hci0 sends extended PDUs through the extended
# advertising commands and hci1 scans extended (auto: btvirt offers it), so
# only LE Extended Advertising Reports can carry the frames; on the raw
# channel both sides use the legacy commands.
for mode in "user auto user --extended" "raw off raw --extended=false"; do
	set -- $mode
	channel=$1 extended=$2 advchannel=$3 advkind=$4
	echo "VMTEST-MODE $channel"
	# The user channel must take a running adapter down (EBUSY, then
	# HCIDEVDOWN) and both channels must leave it as they found it: up.
	vmcheck adapter --hci 1 --up --tag "before-$channel" || fail "powering hci1 up"
	db=/tmp/$channel.db
	# As on a real host: an ordinary user with CAP_NET_ADMIN and
	# CAP_NET_RAW only (docs/deploy.md).
	vmcheck asuser --uid 1000 --caps net_admin,net_raw -- findmy-harvester scan --hci 1 --channel "$channel" --extended "$extended" \
		--db "$db" --format jsonl --stats-interval 0 >/tmp/$channel.jsonl 2>/tmp/$channel.log &
	pid=$!
	await /tmp/$channel.log 'msg=scanning' $pid "harvester did not start scanning on the $channel channel"
	vmcheck advertise --hci 0 --channel "$advchannel" "$advkind" --frames /frames.json --duration 3s ||
		fail "advertising on the $advchannel channel"
	kill -INT $pid
	wait $pid
	rc=$?
	cat /tmp/$channel.log
	[ $rc = 0 ] || fail "harvester exited with $rc on the $channel channel"
	vmcheck adapter --hci 1 --tag "after-$channel" || fail "reading hci1 state"
	sed "s/^/VMTEST-JSONL $channel /" /tmp/$channel.jsonl
	vmcheck dump --db "$db" --tag "$channel" || fail "dumping the $channel contact log"
done

echo "VMTEST-MODE serial"
serial_tty
vmcheck serial --tty "$tty" --duration 120s >/tmp/serial.out 2>/tmp/serial.log &
pid=$!
await /tmp/serial.out VMCHECK-SCANNING $pid "the serial controller did not start scanning"
vmcheck advertise --hci 0 --channel user --frames /frames.json --duration 3s ||
	fail "advertising for the serial controller"
kill -INT $pid
wait $pid
rc=$?
cat /tmp/serial.log
[ $rc = 0 ] || fail "serial scan exited with $rc"
grep '^SERIAL-REPORT ' /tmp/serial.out | sort -u

# The same controller through the harvester, as an HCI UART dongle is used
# on a real host: by an ordinary user who may open the tty (the dialout
# group there), with no capabilities at all. The pseudo-terminal is looked
# up again in case btvirt replaced it when the last run closed it.
echo "VMTEST-MODE serial-harvester"
serial_tty
chown 1000:1000 "$tty"
db=/tmp/serial.db
vmcheck asuser --uid 1000 --caps "" -- findmy-harvester scan --serial "$tty" --baud 115200 \
	--db "$db" --format jsonl --stats-interval 0 >/tmp/serial.jsonl 2>/tmp/serial-harvester.log &
pid=$!
await /tmp/serial-harvester.log 'msg=scanning' $pid "harvester did not start scanning $tty"
vmcheck advertise --hci 0 --channel user --frames /frames.json --duration 3s ||
	fail "advertising for the serial harvester"
kill -INT $pid
wait $pid
rc=$?
cat /tmp/serial-harvester.log
[ $rc = 0 ] || fail "harvester exited with $rc on $tty"
sed "s/^/VMTEST-JSONL serial /" /tmp/serial.jsonl
vmcheck dump --db "$db" --tag serial || fail "dumping the serial contact log"

echo VMTEST-DONE
poweroff -f
