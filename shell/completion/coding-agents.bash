# bash completion for coding-agents and its shims (run-agent, run-NAME for each agent, launch-agent, ...).
#
# Installed by scripts/install.sh from dist/shell/completion/ into
# ~/.local/share/bash-completion/completions/ (under each command's name, so bash-completion loads it
# on first use); or source that copy from ~/.bashrc.
# The first word comes from the list below; everything after it (options, their choices, agent
# and session names) from `coding-agents _complete`, which reads the real parser.
# Set CODING_AGENTS to use another binary, as the shims do.

_coding_agents_commands="run-agent launch-agent connect-agent list-agents remove-agent sync stop start diff land prune history logs policy code inspect mcp secrets images doctor verify-prerequisites"

_coding_agents() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prog=${COMP_WORDS[0]##*/}
    local -a found
    if [[ $prog == coding-agents* && $COMP_CWORD -eq 1 && $cur != -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$_coding_agents_commands" -- "$cur")
        return 0
    fi
    mapfile -t found < <("${CODING_AGENTS:-coding-agents}" _complete -- "${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null)
    if [[ ${found[0]-} == ":files" ]]; then
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
    fi
    COMPREPLY=("${found[@]}")
}

# build_zipapp.py writes this line with every shim name of the agents table (dist/shell/completion/).
complete -F _coding_agents coding-agents coding-agents.pyz
