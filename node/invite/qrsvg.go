package invite

import (
	"fmt"
	"strconv"
	"strings"

	"rsc.io/qr"
)

// quietZone is the white border around a QR code, in modules (ISO/IEC 18004
// asks for 4).
const quietZone = 4

// qrLevel is the error correction level: L (7 %) rather than M (15 %) makes a typical
// invite two versions smaller — fewer, larger modules that phone cameras read from a
// screen more easily (a screen is not a scuffed label, so the redundancy buys little).
const qrLevel = qr.L

// QRSVG renders link as a QR code (error correction level L) in a
// self-contained SVG element: a viewBox of one unit per module including a
// 4-module quiet zone, a white background and one black path. Each run of
// adjacent dark modules in a row is one horizontal stroke of width 1, so the
// SVG stays small (about 20 KB for a typical link). The SVG has no scripts, no
// external references and no fixed size; the UI scales it.
func QRSVG(link string) (string, error) {
	code, err := qr.Encode(link, qrLevel)
	if err != nil {
		return "", fmt.Errorf("invite: qr: %w", err)
	}
	n := strconv.Itoa(code.Size + 2*quietZone)
	var b strings.Builder
	b.Grow(32 * code.Size * code.Size / 8)
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + n + ` ` + n + `" shape-rendering="crispEdges">`)
	b.WriteString(`<rect width="` + n + `" height="` + n + `" fill="#fff"/>`)
	b.WriteString(`<path stroke="#000" d="`)
	for y := range code.Size {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			run := 1
			for code.Black(x+run, y) {
				run++
			}
			// A stroke of width 1 centred on y+0.5 covers row y.
			fmt.Fprintf(&b, "M%d %d.5h%d", x+quietZone, y+quietZone, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}
