package hci

import (
	"testing"
	"time"

	"github.com/go-ble/ble/linux/hci/evt"
)

// BenchmarkDecodeAdvReportGoBLE is the baseline for BenchmarkDecodeAdvReport:
// the same AirTag event read through go-ble's accessors into an AdvReport.
// go-ble checks no lengths (a short event panics) and reads several
// reports as parallel arrays, unlike controllers, Linux and Wireshark, which
// is why the live path decodes with AdvDecoder instead.
func BenchmarkDecodeAdvReportGoBLE(b *testing.B) {
	ev := mustHex(b, "3E2B 02 01 03 01 A4253D086DFB 1F 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0 C5")
	var sink int
	fn := func(r *AdvReport) error { sink += int(r.RSSI); return nil }
	stamp := time.Unix(1, 0)
	var r AdvReport
	b.ReportAllocs()
	for b.Loop() {
		if ev[0] != eventLEMeta || ev[2] != evt.LEAdvertisingReportSubCode {
			b.Fatal("not an advertising report")
		}
		e := evt.LEAdvertisingReport(ev[2:])
		for i := range int(e.NumReports()) {
			a := e.Address(i)
			r = AdvReport{Time: stamp, Type: PDUType(e.EventType(i)), EventType: uint16(e.EventType(i)),
				AddrType: e.AddressType(i), RSSI: e.RSSI(i), Data: e.Data(i),
				PrimaryPHY: phyLE1M, SID: sidNone, TxPower: txPowerNotAvailable}
			reverseAddr(&r.Addr, a[:])
			if err := fn(&r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	_ = sink
}
