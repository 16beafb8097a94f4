# hist.gp: the spinlock wait histogram, share of lock acquisitions per log2 bucket of
# wait cycles, one line per group, log y (vcpusim plot --kind hist). Data: bucket
# i (waits of 2^i to 2^(i+1)-1 cycles), then per group its percentage.
set logscale y
set format y "%g"
set xrange [-0.5:*]
set xtics 0, 2 format "2^%g"
set mxtics 2
set offsets graph 0.02, graph 0.02, 0, 0
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1000,600 font ",11" noenhanced
} else {
	set terminal png size 1000,600 noenhanced
}
set output out.".png.part"
# an empty bucket (0) has no place on a log axis: undefined, so the line breaks there
plot for [i=1:ngroups] data using 1:(column(i+1) > 0 ? column(i+1) : NaN) with linespoints title columnheader(i+1)
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
