# shellcheck shell=bash
# Shared by scripts/install.sh and scripts/test.sh. Source it; it defines functions only.

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install missing Debian packages (root only); arguments are "command:package" pairs.
ensure_packages() {
    local pair missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    ((${#missing[@]})) || return 0
    [[ $EUID -eq 0 ]] || die "missing ${missing[*]}; install them: sudo apt-get install ${missing[*]}"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A project virtualenv at $1 with the packages listed in scripts/test-requirements.txt.
ensure_venv() {
    local venv=$1 requirements=$2
    if [[ ! -x "$venv/bin/python" ]]; then
        say "creating $venv"
        python3 -m venv "$venv"
    fi
    # pip's notes about unreachable extra index folders are noise here; real errors still show.
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }; then
        die "pip could not install $requirements"
    fi
}

# Make sure a Docker engine answers; start dockerd in the background when we may (root, local).
ensure_engine() {
    docker info >/dev/null 2>&1 && return 0
    [[ $EUID -eq 0 ]] || die "no Docker engine answers; start one (sudo systemctl start docker)"
    [[ -z "${DOCKER_HOST:-}" ]] || die "DOCKER_HOST=$DOCKER_HOST does not answer"
    local log=/var/log/coding-agents-dockerd.log
    say "starting dockerd in the background (log: $log)"
    nohup dockerd >"$log" 2>&1 &
    local _
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "dockerd did not come up; see $log"
}

# Make a base OS image with debootstrap when no registry gives us debian:bookworm-slim.
ensure_base_os_image() {
    local pyz=$1
    docker image inspect coding-agents-os:bookworm >/dev/null 2>&1 && return 0
    docker image inspect debian:bookworm-slim >/dev/null 2>&1 && return 0
    docker pull --quiet debian:bookworm-slim >/dev/null 2>&1 && return 0
    say "no registry answers: bootstrapping the base OS image with debootstrap"
    [[ $EUID -eq 0 ]] || die "bootstrapping needs root: sudo $pyz images bootstrap-base"
    "$pyz" images bootstrap-base
}

# The bash shims of $1 (dist/shell/: one file under every shim name) into the bin folder $2.
install_shims() {
    local shims=$1 bin_dir=$2 shim
    for shim in "$shims"/*; do
        [[ -f $shim && $shim != *.ps1 ]] || continue
        install -m 0755 "$shim" "$bin_dir/$(basename "$shim")"
    done
}

# Bash and zsh completion for coding-agents and its shims: the scripts from $1 (dist/shell/completion)
# for the commands named by coding-agents and the shims in $2 (dist/shell/), under $3 (a share folder;
# default ${XDG_DATA_HOME:-~/.local/share}). bash-completion loads a command's completion from
# completions/<command>, so the bash file goes in under each name.
install_completion() {
    local source=$1 shims=$2 share=${3:-${XDG_DATA_HOME:-$HOME/.local/share}} shim
    local bash_dir="$share/bash-completion/completions" zsh_dir="$share/zsh/site-functions"
    mkdir -p "$bash_dir" "$zsh_dir"
    install -m 0644 "$source/coding-agents.bash" "$bash_dir/coding-agents"
    for shim in "$shims"/*; do
        [[ -f $shim && $shim != *.ps1 ]] || continue
        install -m 0644 "$source/coding-agents.bash" "$bash_dir/$(basename "$shim")"
    done
    install -m 0644 "$source/_coding-agents" "$zsh_dir/_coding-agents"
    say "installed shell completion: bash in $bash_dir (new shells load it), zsh in $zsh_dir"
    say "for zsh, put this line before compinit in ~/.zshrc:  fpath=($zsh_dir \$fpath)"
}

# When $1 is not on PATH: ask (on a terminal), add it ($2 = add), or only print the line ($2 = print,
# or no terminal). The rc file is ~/.zshrc for zsh users, else ~/.bashrc; nothing is edited without a yes.
offer_path() {
    local bin_dir=$1 choice=$2 rc line answer
    case ":$PATH:" in *":$bin_dir:"*) return 0 ;; esac
    rc="$HOME/.bashrc"
    [[ ${SHELL:-} == */zsh ]] && rc="$HOME/.zshrc"
    line="export PATH=\"$bin_dir:\$PATH\""
    if [[ -f $rc ]] && grep -qxF "$line" "$rc"; then
        say "$rc already puts $bin_dir on PATH; open a new shell (or: source $rc)"
        return 0
    fi
    if [[ $choice == ask && -t 0 && -t 1 ]]; then
        read -r -p "==> $bin_dir is not on your PATH. Add it in $rc? [y/N] " answer || answer=
        [[ $answer == [yY]* ]] && choice=add
    fi
    if [[ $choice == add ]]; then
        printf '\n# added by coding-agents scripts/install.sh\n%s\n' "$line" >>"$rc"
        say "added $bin_dir to PATH in $rc; open a new shell (or: source $rc)"
    else
        say "$bin_dir is not on your PATH; add this line to $rc, then open a new shell:"
        printf '    %s\n' "$line" >&2
    fi
}
