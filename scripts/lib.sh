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
