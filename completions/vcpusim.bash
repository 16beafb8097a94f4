# vcpusim.bash: bash completion for vcpusim(1): commands, each command's options,
# policy and workload names after --set scheduler.policy=, and file names (JSON
# files where a scenario, sweep or results file is expected). Installed by
# `make install` as PREFIX/share/bash-completion/completions/vcpusim.

_vcpusim()
{
	local cur prev cmd i
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="run validate list kvm compare sweep plot trace capture calibrate --help --version"

	# The command is the first word after vcpusim; after `capture ... --` the rest
	# is another program's command line.
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return
	fi
	if [[ $cmd == capture ]]; then
		for ((i = 2; i < COMP_CWORD; i++)); do
			if [[ ${COMP_WORDS[i]} == -- ]]; then
				COMPREPLY=($(compgen -c -- "$cur"))
				[[ $COMP_CWORD -gt $((i + 1)) ]] && COMPREPLY=($(compgen -f -- "$cur"))
				return
			fi
		done
	fi

	local opts=
	case $cmd in
	run) opts="-o --set --trace --trace-from --trace-to --check --quiet --help" ;;
	validate) opts="--set --help" ;;
	list) COMPREPLY=($(compgen -W "policies workloads" -- "$cur")); return ;;
	sweep) opts="-o -j --shard --timeout --merge -n --dry-run --help" ;;
	plot) opts="-o --kind --x --group --y --normalise-to --where --vm --logy --pdf --title --xlabel --ylabel --timeline --from --to --help" ;;
	capture) opts="-o --threads --clock --lib -- --help" ;;
	trace)
		if [[ $COMP_CWORD -eq $((i + 1)) ]]; then
			COMPREPLY=($(compgen -W "info convert" -- "$cur")); return
		fi
		opts="--json -o --help" ;;
	kvm) opts="-o --trace --set --sim-scenario --sim-noise --nice --probe --help" ;;
	compare) opts="--plot --floor --no-header --label-a --label-b --help" ;;
	calibrate) opts="-o --seconds --repetitions --threshold-ns --name --help" ;;
	esac

	case $prev in
	--kind) COMPREPLY=($(compgen -W "bars lines hist all" -- "$cur")); return ;;
	--clock) COMPREPLY=($(compgen -W "wall cpu" -- "$cur")); return ;;
	-j|--threads|--timeout|--trace-from|--trace-to|--shard|--nice|--from|--to|--floor|--seconds|--repetitions|--threshold-ns|--name|--label-a|--label-b|--x|--y|--group|--where|--vm|--normalise-to|--title|--xlabel|--ylabel|--sim-noise)
		return ;;
	--set)
		COMPREPLY=($(compgen -W "scheduler.policy= seed= host.pcpus= stop.max_ms= guest.spinlock=" -- "$cur"))
		compopt -o nospace 2>/dev/null
		return ;;
	esac
	# bash splits `--set scheduler.policy=gang` at the '=' (COMP_WORDBREAKS):
	# the words are --set, scheduler.policy, =, gang.
	local key=
	if [[ $cur == = ]]; then
		key=$prev; cur=
	elif [[ $prev == = ]]; then
		key=${COMP_WORDS[COMP_CWORD-2]}
	fi
	if [[ -n $key ]]; then
		case $key in
		scheduler.policy)
			COMPREPLY=($(compgen -W "$(vcpusim list policies 2>/dev/null | awk '{print $1}')" -- "$cur")) ;;
		guest.spinlock) COMPREPLY=($(compgen -W "ticket tas pvticket pmtlock qspinlock pvqspinlock" -- "$cur")) ;;
		esac
		return
	fi
	case $prev in
	-o)
		if [[ $cmd == sweep || $cmd == plot ]]; then
			COMPREPLY=($(compgen -d -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		return ;;
	--lib|--trace|--timeline|--plot|--sim-scenario) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	elif [[ $cmd == plot || $cmd == sweep && $prev == --merge ]]; then
		COMPREPLY=($(compgen -d -- "$cur"))
	elif [[ $cmd == trace ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
	else
		COMPREPLY=($(compgen -f -X '!*.json' -- "$cur") $(compgen -d -S / -- "$cur"))
		compopt -o nospace 2>/dev/null
	fi
}
complete -F _vcpusim vcpusim
