#!/usr/bin/env bash
# Set up coding-agents on this machine and build its images:
#   1. build dist/coding-agents.pyz (pex, in a project venv)
#   2. install it as ~/.local/bin/coding-agents (or $PREFIX/bin) with the run-claude, launch-agent, ... shims
#   3. make a base OS image with debootstrap if no registry is reachable (root)
#   4. build every image (`coding-agents images build all`) and run `coding-agents doctor`
#
#   scripts/install.sh [--ca-cert FILE] [--no-images]
# --ca-cert: a PEM bundle for TLS-intercepting proxies (also read from $CODING_AGENTS_CA_CERT).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

ca_cert="${CODING_AGENTS_CA_CERT:-}"
build_images=1
while (($#)); do
    case $1 in
        --ca-cert) ca_cert=${2:?--ca-cert needs a file}; shift 2 ;;
        --no-images) build_images=0; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

ensure_packages git:git tmux:tmux socat:socat
VENV="$ROOT/.venv"
ensure_venv "$VENV" "$ROOT/scripts/test-requirements.txt"
say "building dist/coding-agents.pyz"
"$VENV/bin/python" build_zipapp.py

bin_dir="${PREFIX:-$HOME/.local}/bin"
mkdir -p "$bin_dir"
install -m 0755 "$ROOT/dist/coding-agents.pyz" "$bin_dir/coding-agents"
for shim in "$ROOT"/shell/*; do
    [[ $shim == *.ps1 ]] && continue
    install -m 0755 "$shim" "$bin_dir/$(basename "$shim")"
done
say "installed coding-agents and its shims into $bin_dir"
case ":$PATH:" in *":$bin_dir:"*) ;; *) say "add $bin_dir to your PATH" ;; esac
# trivy (from the venv) lets image builds scan for secrets before tagging.
[[ -e "$bin_dir/trivy" ]] || ln -s "$VENV/bin/trivy" "$bin_dir/trivy"

if ((build_images)); then
    # A docker client alone is not an engine: dockerd is what we may have to start.
    ensure_packages docker:docker.io dockerd:docker.io debootstrap:debootstrap
    ensure_engine
    ensure_base_os_image "$bin_dir/coding-agents"
    args=(images build all)
    if [[ -n $ca_cert ]]; then args+=(--ca-cert "$ca_cert"); fi
    PATH="$bin_dir:$PATH" "$bin_dir/coding-agents" "${args[@]}"
fi
PATH="$bin_dir:$PATH" "$bin_dir/coding-agents" doctor
