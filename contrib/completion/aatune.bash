# bash completion for aatune(1)
# Completes subcommands, their options, profile names from the policy tree (--profiles DIR or
# /etc/apparmor.d) and, after apply --select, the proposal ids suggest gives for the same logs.

_aatune_profiles() {
  local tree=/etc/apparmor.d i
  for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
    [[ ${COMP_WORDS[i]} == --profiles ]] && tree=${COMP_WORDS[i + 1]}
  done
  [[ -d $tree ]] || return
  # Profile files sit at the top of the tree; skip directories and packaging leftovers.
  local f
  for f in "$tree"/*; do
    [[ -f $f ]] || continue
    f=${f##*/}
    [[ $f == *.dpkg-* || $f == *.rpm* || $f == *~ || $f == README ]] && continue
    printf '%s\n' "$f"
  done
}

# The #ids `aatune suggest` gives the proposals for the logs named on this line (the same ids
# `apply --select` takes).
_aatune_groups() {
  local args=() i w
  for ((i = 2; i < ${#COMP_WORDS[@]}; i++)); do
    ((i == COMP_CWORD)) && continue
    w=${COMP_WORDS[i]}
    case $w in
      --profiles | --libvirt-xml) args+=("$w" "${COMP_WORDS[i + 1]}"); ((i++)) ;;
      --select) while ((i + 1 < ${#COMP_WORDS[@]})) && [[ ${COMP_WORDS[i + 1]} != -* ]] &&
                  [[ ! -f ${COMP_WORDS[i + 1]} ]]; do ((i++)); done ;;
      --target | --glob | --loader | --parser | --db | --state) ((i++)) ;;
      -*) ;;
      *) [[ -f $w ]] && args+=("$w") ;;
    esac
  done
  "${COMP_WORDS[0]}" suggest --format json "${args[@]}" 2>/dev/null |
    grep -o '"id": *[0-9][0-9]*' | grep -o '[0-9][0-9]*$' | sort -nu
}

_aatune() {
  local cur prev cmd
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  local commands="parse suggest apply undo disable enable complain enforce scan status list watch tui export"
  local common="--profiles --state --no-reload --loader --parser --help"
  if ((COMP_CWORD == 1)); then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return
  fi
  cmd=${COMP_WORDS[1]}

  case $prev in
    --profiles | --state | --libvirt-xml | --root)
      COMPREPLY=($(compgen -d -- "$cur"))
      return
      ;;
    --db | --loader | --parser | --output)
      COMPREPLY=($(compgen -f -- "$cur"))
      return
      ;;
    --format)
      case $cmd in
        parse) COMPREPLY=($(compgen -W "json aalogparse" -- "$cur")) ;;
        suggest) COMPREPLY=($(compgen -W "text json apparmor" -- "$cur")) ;;
        export) COMPREPLY=($(compgen -W "json markdown tar" -- "$cur")) ;;
      esac
      return
      ;;
    --target)
      COMPREPLY=($(compgen -W "profile local files" -- "$cur"))
      return
      ;;
    --glob)
      COMPREPLY=($(compgen -W "0 1 2 ext var volatile" -- "$cur"))
      return
      ;;
    --source)
      COMPREPLY=($(compgen -W "auto netlink kmsg" -- "$cur") $(compgen -f -- "$cur"))
      return
      ;;
    --profile)
      COMPREPLY=($(compgen -W "$(_aatune_profiles)" -- "$cur"))
      return
      ;;
    --since | --max-events | --duration | --batch | --size | --group | --redact-pattern)
      return
      ;;
  esac

  # After --select, every word is a group id until the next option.
  local i
  if [[ $cmd == apply && $cur != -* ]]; then
    for ((i = COMP_CWORD - 1; i > 1; i--)); do
      [[ ${COMP_WORDS[i]} == -* ]] || continue
      if [[ ${COMP_WORDS[i]} == --select ]]; then
        COMPREPLY=($(compgen -W "$(_aatune_groups)" -- "$cur"))
        return
      fi
      break
    done
  fi

  local opts
  case $cmd in
    parse) opts="--format --count --help" ;;
    suggest) opts="--profiles --format --libvirt-xml --help" ;;
    apply) opts="--profiles --target --select --all --force --glob --no-reload --loader --parser
                 --yes --db --state --libvirt-xml --help" ;;
    undo) opts="$common" ;;
    disable | enable | complain | enforce)
      if [[ $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$(_aatune_profiles)" -- "$cur"))
        return
      fi
      opts="$common"
      ;;
    scan) opts="--db --root --no-journal --no-kmsg --quiet --help" ;;
    status) opts="--db --by-host --json --help" ;;
    list) opts="--db --profile --since --all --json --help" ;;
    watch) opts="--json --profile --source --from-start --db --profiles --max-events --duration
                 --quiet --help" ;;
    tui) opts="--profiles --db --no-reload --loader --state --libvirt-xml --batch --size --help" ;;
    export) opts="--profiles --db --profile --since --group --format --output --redact --no-redact
                  --redact-uuids --redact-pattern --libvirt-xml --now --no-probe --help" ;;
    *) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}

complete -F _aatune aatune
