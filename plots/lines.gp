# lines.gp: a metric against a numeric x (e.g. the overcommit ratio), one line per
# group with 95% confidence-interval error bars (vcpusim plot --kind lines). Data:
# x, then per group its mean and CI half-width.
if (logy) {
	set logscale y
	set format y "%g"
} else {
	set yrange [0:*]
}
set offsets graph 0.03, graph 0.03, 0, 0
if (refline > 0) {
	set arrow 1 from graph 0, first refline to graph 1, first refline nohead dt 2 lw 1.5 lc rgb "#404040" front
}
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1000,600 font ",11" noenhanced
} else {
	set terminal png size 1000,600 noenhanced
}
set output out.".png.part"
plot for [i=1:ngroups] data using 1:(column(2*i)):(column(2*i+1)) with yerrorlines title columnheader(2*i)
set output
set terminal svg size 1000,600 font "sans,13" noenhanced background "white"
set output out.".svg.part"
replot
set output
if (pdf) {
	set terminal pdfcairo size 10in,6in font "sans,10" noenhanced
	set output out.".pdf.part"
	replot
	set output
}
