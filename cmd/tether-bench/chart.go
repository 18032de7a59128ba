package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// chartMain renders the summary of a -json file as grouped horizontal
// bars: one group per figure, one bar per target, each normalised to
// Tether = 1 on a logarithmic axis, with the values printed.
func chartMain(args []string) int {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	in := fs.String("in", "out.json", "JSON written by tether-bench run -json; several, comma-separated, are drawn one after the other")
	out := fs.String("out", "bench/chart.png", "PNG to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	all := results{Targets: map[string]string{}}
	for _, name := range list(*in) {
		b, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench chart:", err)
			return 1
		}
		var res results
		if err := json.Unmarshal(b, &res); err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench chart:", name+":", err)
			return 1
		}
		all.Summary = append(all.Summary, res.Summary...)
		for k, v := range res.Targets {
			all.Targets[k] = v
		}
	}
	img := renderChart(all.Summary, chartTargets(all))
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench chart:", err)
		return 1
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		fmt.Fprintln(os.Stderr, "tether-bench chart:", err)
		return 1
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench chart:", err)
		return 1
	}
	return 0
}

// chartTargets orders the targets: Tether first, then the peers.
func chartTargets(res results) []string {
	order := []string{"tether", "raw", "centrifugo", "socketio"}
	var out []string
	for _, t := range order {
		if _, ok := res.Targets[t]; ok {
			out = append(out, t)
		}
	}
	for t := range res.Targets {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

var targetColors = map[string]color.RGBA{
	"tether":     {0x1f, 0x77, 0xb4, 0xff},
	"raw":        {0x7f, 0x7f, 0x7f, 0xff},
	"centrifugo": {0xff, 0x7f, 0x0e, 0xff},
	"socketio":   {0x2c, 0xa0, 0x2c, 0xff},
}

// Chart geometry, in pixels. basicfont has ASCII only: no "×" or "…".
const (
	chLabelW  = 380 // figure labels on the left
	chPlotW   = 520 // the bars
	chValueW  = 230 // values on the right
	chBarH    = 14
	chBarGap  = 3
	chGroupSp = 14
	chTop     = 64
	chBottom  = 40
	// The axis spans chMinRatio to chMaxRatio times Tether's figure.
	chMinRatio = 0.01
	chMaxRatio = 100
)

// chartRows keeps the rows that can be drawn: Tether's figure positive.
func chartRows(rows []row) []row {
	var out []row
	for _, rw := range rows {
		if v, ok := rw.Median["tether"]; ok && v > 0 && len(rw.Median) > 1 {
			out = append(out, rw)
		}
	}
	return out
}

func renderChart(all []row, targets []string) *image.RGBA {
	rows := chartRows(all)
	groupH := len(targets)*(chBarH+chBarGap) + chGroupSp
	w := chLabelW + chPlotW + chValueW
	h := chTop + max(1, len(rows))*groupH + chBottom
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	black := color.RGBA{0, 0, 0, 0xff}
	grey := color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	text(img, 10, 18, black, "tether-bench: each figure normalised to Tether = 1 (log axis); value printed at the right")
	// Legend.
	x := 10
	for _, t := range targets {
		fill(img, image.Rect(x, 30, x+12, 42), targetColors[t])
		text(img, x+16, 40, black, t)
		x += 30 + 7*len(t)
	}
	xOf := func(ratio float64) int {
		r := math.Min(math.Max(ratio, chMinRatio), chMaxRatio)
		f := (math.Log10(r) - math.Log10(chMinRatio)) / (math.Log10(chMaxRatio) - math.Log10(chMinRatio))
		return chLabelW + int(f*float64(chPlotW))
	}
	// Grid lines at powers of ten.
	for _, g := range []float64{0.01, 0.1, 1, 10, 100} {
		gx := xOf(g)
		c := grey
		if g == 1 {
			c = black
		}
		fill(img, image.Rect(gx, chTop-6, gx+1, h-chBottom+4), c)
		text(img, gx-12, h-chBottom+18, black, fmt.Sprintf("%gx", g))
	}
	if len(rows) == 0 {
		text(img, chLabelW, chTop+20, black, "no figure with a positive Tether value and a peer")
	}
	y := chTop
	for _, rw := range rows {
		base := rw.Median["tether"]
		label := fmt.Sprintf("%s, %s", rw.Label, paramLabel(rw.Scenario, rw.Param))
		better := " (higher better)"
		if rw.LowerBetter {
			better = " (lower better)"
		}
		text(img, 6, y+chBarH, black, truncateLabel(label, 53))
		text(img, 6, y+chBarH+13, grey2, better)
		for i, t := range targets {
			by := y + i*(chBarH+chBarGap)
			v, ok := rw.Median[t]
			if !ok {
				continue
			}
			ratio := v / base
			x1 := xOf(ratio)
			if v > 0 {
				fill(img, image.Rect(chLabelW, by, max(x1, chLabelW+1), by+chBarH), targetColors[t])
			}
			text(img, chLabelW+chPlotW+6, by+11, black, fmt.Sprintf("%s %s (%.2gx)", t, fmtNum(v), ratio))
		}
		y += groupH
	}
	return img
}

var grey2 = color.RGBA{0x66, 0x66, 0x66, 0xff}

func truncateLabel(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func text(img *image.RGBA, x, y int, c color.Color, s string) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
