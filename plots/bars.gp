# bars.gp: grouped bars with 95% confidence-interval error bars, one cluster per
# x value and one bar per group (vcpusim plot --kind bars). Data: x label, then
# per group its mean and CI half-width; refline > 0 draws a dashed line there
# (1 when normalised).
set style data histograms
set style histogram errorbars gap 1.5 lw 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
if (logy) {
	set logscale y
	set format y "%g"
} else {
	set yrange [0:*]
}
set xtics noenhanced
if (refline > 0) {
	set arrow 1 from graph 0, first refline to graph 1, first refline nohead dt 2 lw 1.5 lc rgb "#404040" front
}
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1000,600 font ",11" noenhanced
} else {
	set terminal png size 1000,600 noenhanced
}
set output out.".png.part"
plot for [i=1:ngroups] data using (column(2*i)):(column(2*i+1)):xtic(1) title columnheader(2*i)
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
