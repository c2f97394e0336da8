package disclosure

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// pdfDocument lays text lines out on A4 pages in Helvetica and returns a
// PDF 1.4 file: enough for a report a court can print, with no dependency.
// Long lines wrap; characters outside Latin-1 print as '?'.
func pdfDocument(lines []string) []byte {
	const (
		width, height = 595, 842
		margin        = 48
		size, leading = 8, 10.5
		wrapAt        = 118
	)
	var wrapped []string
	for _, l := range lines {
		for utf8.RuneCountInString(l) > wrapAt {
			r := []rune(l)
			cut := wrapAt
			if i := strings.LastIndex(string(r[:wrapAt]), " "); i > wrapAt/2 {
				cut = utf8.RuneCountInString(string(r[:wrapAt])[:i])
			}
			wrapped = append(wrapped, string(r[:cut]))
			l = "        " + strings.TrimLeft(string(r[cut:]), " ")
		}
		wrapped = append(wrapped, l)
	}
	perPage := 71 // (height - 2*margin) / leading
	var pages [][]string
	for len(wrapped) > 0 {
		n := min(perPage, len(wrapped))
		pages = append(pages, wrapped[:n])
		wrapped = wrapped[n:]
	}
	if len(pages) == 0 {
		pages = [][]string{{""}}
	}
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	// 1 catalog, 2 pages, 3 font, then a page and its content per page.
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	kids := make([]string, len(pages))
	for i := range pages {
		kids[i] = fmt.Sprintf("%d 0 R", 4+2*i)
	}
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(pages)))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	for i, p := range pages {
		var c bytes.Buffer
		fmt.Fprintf(&c, "BT /F1 %d Tf %g TL %d %d Td\n", size, leading, margin, height-margin)
		for _, l := range p {
			fmt.Fprintf(&c, "(%s) '\n", pdfString(l))
		}
		fmt.Fprintf(&c, "ET\nBT /F1 7 Tf %d %d Td (page %d of %d) Tj ET\n", width-margin-50, margin/2, i+1, len(pages))
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", width, height, 5+2*i))
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", c.Len(), c.String()))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

// pdfString escapes a line for a PDF string in WinAnsi (Latin-1 here).
func pdfString(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\' || r == '(' || r == ')':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '→':
			b.WriteString("->")
		case r < 32:
			b.WriteByte(' ')
		case r < 128:
			b.WriteRune(r)
		case r < 256:
			fmt.Fprintf(&b, "\\%03o", r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
