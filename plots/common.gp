# common.gp: shared start of every `vcpusim plot` figure (prepended by plots/plot.c
# after the variables it sets: out, title, xlabel, ylabel, keytitle, data, ngroups,
# logy and pdf: the body draws a log y axis when logy is 1 and adds OUT.pdf when pdf is).
# PNG through cairo when this gnuplot has it (crisper), else libgd's png; then SVG.
set datafile separator "\t"
set datafile missing "?"
set termoption noenhanced
# a long title (a figure with censored runs says so after "; ") is cut by the canvas
# on both sides: break its line after every "; "
wrap(s) = strstrt(s, "; ") > 0 ? s[1:strstrt(s, "; ")] . "\n" . wrap(s[strstrt(s, "; ") + 2:]) : s
set title wrap(title) noenhanced
set xlabel xlabel noenhanced
set ylabel ylabel noenhanced
set grid ytics lc rgb "#d0d0d0"
set border 3
set tics nomirror
set key outside below center horizontal Left reverse noenhanced samplen 2 spacing 1.2 title keytitle
set linetype 1 lc rgb "#1f77b4" lw 2 pt 7
set linetype 2 lc rgb "#d62728" lw 2 pt 5
set linetype 3 lc rgb "#2ca02c" lw 2 pt 9
set linetype 4 lc rgb "#ff7f0e" lw 2 pt 11
set linetype 5 lc rgb "#9467bd" lw 2 pt 13
set linetype 6 lc rgb "#8c564b" lw 2 pt 3
set linetype 7 lc rgb "#e377c2" lw 2 pt 1
set linetype 8 lc rgb "#7f7f7f" lw 2 pt 2
set linetype cycle 8
