# timeline.gp: a Gantt chart of a short window of a run (vcpusim plot --timeline):
# a row per pCPU, a bar per stretch a vCPU ran there, coloured by VM. Data: one
# block per VM (blank-line separated, in VM order), rows pCPU, start ms, end ms.
# `names` lists the VM names, one word each; `npcpus` the rows.
set style fill solid 0.85 border lc rgb "white"
set yrange [npcpus - 0.5:-0.5]
set ytics 1 format "pCPU %g"
set grid xtics
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1200,500 font ",11" noenhanced
} else {
	set terminal png size 1200,500 noenhanced
}
set output out.".png.part"
plot for [i=1:ngroups] data index (i-1) using (($2+$3)/2):1:(($3-$2)/2):(0.38) with boxxyerror lt i title word(names, i)
set output
set terminal svg size 1200,500 font "sans,13" noenhanced background "white"
set output out.".svg.part"
replot
set output
if (pdf) {
	set terminal pdfcairo size 12in,5in font "sans,10" noenhanced
	set output out.".pdf.part"
	replot
	set output
}
