// Package findmy reads and writes Apple Offline Finding ("Find My")
// advertisements and derives the rolling P-224 keys they carry, so that the
// 28-byte keys Apple devices broadcast can enter a PACT contact log as
// chirps. The normative description, with test vectors, is docs/findmy.md;
// doc comments cite its sections as "findmy §N".
//
// Nothing here talks to a radio: frames arrive as advertising data plus the
// advertiser's address (display order, most significant byte first), the
// form hci.AdvReport already uses.
package findmy
