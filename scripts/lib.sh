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

# Podman for the tests that run sessions under it (test only: install.sh never calls this). Beside
# the package: catatonit for --init; where Podman's default rlimits are above this host's hard limits
# and nothing may raise them (no CAP_SYS_RESOURCE: a container, gVisor), a containers.conf.d file
# with the host's own; with Docker's firewall rules present (FORWARD DROP, br_netfilter), the rule
# that lets frames within one Podman bridge through (docs/podman.md).
ensure_podman() {
    local missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    [[ -x /usr/libexec/podman/catatonit ]] || command -v catatonit >/dev/null 2>&1 || missing+=(catatonit)
    if ((${#missing[@]})); then
        [[ $EUID -eq 0 ]] || die "missing ${missing[*]}; install them: sudo apt-get install ${missing[*]}"
        say "installing ${missing[*]} (for the tests under Podman)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
    fi
    [[ $EUID -eq 0 ]] || return 0
    local caps nofile nproc conf=/etc/containers/containers.conf.d/coding-agents-tests.conf
    caps=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
    nofile=$(ulimit -Hn)
    if [[ ! -f $conf && $nofile != unlimited && $nofile -lt 1048576 ]] && ! (((16#$caps >> 24) & 1)); then
        nproc=$(ulimit -Hu)
        [[ $nproc == unlimited || $nproc -gt $(cat /proc/sys/kernel/pid_max) ]] && nproc=$(cat /proc/sys/kernel/pid_max)
        say "podman: default rlimits within this host's ($conf)"
        mkdir -p "$(dirname "$conf")"
        printf '# Written by scripts/test.sh: this host cannot raise its hard limits (no CAP_SYS_RESOURCE).\n[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
            "$nofile" "$nofile" "$nproc" "$nproc" >"$conf"
    fi
    local rule=(DOCKER-USER -i podman+ -o podman+ -m physdev --physdev-is-bridged -j ACCEPT)
    if command -v iptables >/dev/null && iptables -S DOCKER-USER >/dev/null 2>&1 && ! iptables -C "${rule[@]}" 2>/dev/null; then
        say "podman: letting frames within a Podman bridge past Docker's FORWARD policy"
        iptables -I "${rule[@]}"
    fi
    ensure_rootless_podman_user
}

# The user the rootless Podman tests run as ($CODING_AGENTS_TEST_ROOTLESS_USER, made here, root
# only): subordinate uids (useradd gives a new user a range), uidmap and slirp4netns, a runtime
# folder (what a login session would make), and /dev/net/tun usable by all, as Debian has it.
ensure_rootless_podman_user() {
    local user=${CODING_AGENTS_TEST_ROOTLESS_USER:-ca-rootless} missing=() uid
    command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
    command -v slirp4netns >/dev/null 2>&1 || missing+=(slirp4netns)
    if ((${#missing[@]})); then
        say "installing ${missing[*]} (for the rootless Podman tests)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! id "$user" >/dev/null 2>&1; then
        say "podman: adding the user $user for the rootless tests"
        useradd --create-home --shell /bin/bash "$user"
    fi
    grep -q "^$user:" /etc/subuid || usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$user"
    uid=$(id -u "$user")
    install -d -m 0700 -o "$user" -g "$user" "/run/user/$uid"
    [[ ! -c /dev/net/tun ]] || chmod 0666 /dev/net/tun
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
