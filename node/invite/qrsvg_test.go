package invite

import (
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"rsc.io/qr"
)

// svgDoc is what QRSVG writes, as encoding/xml reads it.
type svgDoc struct {
	XMLName xml.Name `xml:"http://www.w3.org/2000/svg svg"`
	ViewBox string   `xml:"viewBox,attr"`
	Rect    struct {
		Width  string `xml:"width,attr"`
		Height string `xml:"height,attr"`
		Fill   string `xml:"fill,attr"`
	} `xml:"rect"`
	Path struct {
		Stroke string `xml:"stroke,attr"`
		D      string `xml:"d,attr"`
	} `xml:"path"`
}

var runRE = regexp.MustCompile(`^M(\d+) (\d+)\.5h(\d+)`)

// rasterize reads the path's runs back into a grid of dark modules, with the
// quiet zone, and checks that adjacent modules were merged into one run.
func rasterize(t *testing.T, d string, n int) [][]bool {
	t.Helper()
	grid := make([][]bool, n)
	for i := range grid {
		grid[i] = make([]bool, n)
	}
	for d != "" {
		m := runRE.FindStringSubmatch(d)
		if m == nil {
			t.Fatalf("path data not made of runs at %.40q", d)
		}
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		if w < 1 || y >= n || x+w > n {
			t.Fatalf("run %q outside the %d-module square", m[0], n)
		}
		for i := x; i < x+w; i++ {
			if grid[y][i] {
				t.Fatalf("run %q overlaps another", m[0])
			}
			grid[y][i] = true
		}
		if (x > 0 && grid[y][x-1]) || (x+w < n && grid[y][x+w]) {
			t.Fatalf("run %q touches another run: adjacent modules not merged", m[0])
		}
		d = d[len(m[0]):]
	}
	return grid
}

// checkWellFormed walks every XML token: the document must be well formed,
// hold only svg, rect and path elements, and reference nothing outside itself.
func checkWellFormed(t *testing.T, svg string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	dec.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			switch tok.Name.Local {
			case "svg", "rect", "path":
			default:
				t.Fatalf("unexpected element <%s>", tok.Name.Local)
			}
			for _, a := range tok.Attr {
				if strings.Contains(strings.ToLower(a.Name.Local), "href") || strings.HasPrefix(strings.ToLower(a.Name.Local), "on") || strings.Contains(a.Value, "url(") {
					t.Fatalf("attribute %s=%q refers outside the SVG or runs code", a.Name.Local, a.Value)
				}
			}
		case xml.EndElement:
			depth--
		case xml.ProcInst, xml.Directive:
			t.Fatalf("unexpected %T", tok)
		}
	}
	if roots != 1 {
		t.Fatalf("%d root elements", roots)
	}
}

// TestQRSVG: the SVG is well-formed, self-contained, and has exactly the QR
// code's dark modules, offset by the quiet zone, on a white square.
func TestQRSVG(t *testing.T) {
	id := testIdentity(t, "alice")
	link, err := Link(id, realisticInvite(t, id))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{link, "petrel:A", strings.Repeat("x", 2000)} {
		svg, err := QRSVG(text)
		if err != nil {
			t.Fatal(err)
		}
		code, err := qr.Encode(text, qrLevel)
		if err != nil {
			t.Fatal(err)
		}
		if text == link {
			m, err := qr.Encode(text, qr.M)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("invite QR: %d modules a side at level L, %d at M", code.Size, m.Size)
			if code.Size >= m.Size {
				t.Fatalf("the invite's QR code is not lighter: %d modules at L, %d at M", code.Size, m.Size)
			}
		}
		checkWellFormed(t, svg)
		if strings.Contains(strings.ToLower(svg), "<script") {
			t.Fatal("SVG contains a script")
		}
		var doc svgDoc
		if err := xml.Unmarshal([]byte(svg), &doc); err != nil {
			t.Fatal(err)
		}
		n := code.Size + 2*quietZone
		ns := strconv.Itoa(n)
		if doc.ViewBox != fmt.Sprintf("0 0 %d %d", n, n) {
			t.Fatalf("viewBox %q, want a %d-module square", doc.ViewBox, n)
		}
		if doc.Rect.Width != ns || doc.Rect.Height != ns || doc.Rect.Fill != "#fff" || doc.Path.Stroke != "#000" {
			t.Fatalf("background %+v, path stroke %q", doc.Rect, doc.Path.Stroke)
		}
		grid := rasterize(t, doc.Path.D, n)
		dark, black := 0, 0
		for y := range n {
			for x := range n {
				want := code.Black(x-quietZone, y-quietZone)
				if grid[y][x] != want {
					t.Fatalf("module (%d,%d): dark %v, want %v", x-quietZone, y-quietZone, grid[y][x], want)
				}
				if grid[y][x] {
					dark++
				}
				if want {
					black++
				}
			}
		}
		if dark != black || dark == 0 {
			t.Fatalf("%d dark modules, the code has %d", dark, black)
		}
		if text == link {
			t.Logf("typical invite: %d-byte link, %d×%d modules, %d dark, SVG %d bytes", len(link), code.Size, code.Size, dark, len(svg))
			if len(svg) > 32<<10 {
				t.Errorf("SVG of %d bytes", len(svg))
			}
		}
	}
}

// TestQRSVGTooLong: text beyond the largest QR code is an error, not a panic.
func TestQRSVGTooLong(t *testing.T) {
	svg, err := QRSVG(strings.Repeat("x", 3000))
	if err == nil || svg != "" || !strings.HasPrefix(err.Error(), "invite: qr:") {
		t.Fatalf("QRSVG of 3000 bytes = %d bytes, %v", len(svg), err)
	}
}
