#!/usr/bin/env bash
# Set up coding-agents on this machine and build its images:
#   1. build dist/coding-agents.pyz (pex, in a project venv), and dist/shell/: the shims for every agent
#   2. install it as ~/.local/bin/coding-agents (or $PREFIX/bin) with the run-agent, run-claude (one per agent),
#      launch-agent, ... shims, and bash and zsh completion (~/.local/share/bash-completion/completions/,
#      ~/.local/share/zsh/site-functions/)
#   3. offer to put that bin folder on PATH when it is not (asks y/N on a terminal; never edits without a yes)
#   4. make a base OS image with debootstrap if no registry is reachable (root)
#   5. build every image (`coding-agents images build all`) and run `coding-agents doctor`
#
#   scripts/install.sh [--ca-cert FILE] [--no-images] [--add-to-path | --no-path-prompt]
# --ca-cert FILE    a PEM bundle for TLS-intercepting proxies (also read from $CODING_AGENTS_CA_CERT)
# --no-images       install the tool only; build the images later with `coding-agents images build`
# --add-to-path     add the bin folder to PATH in your shell's rc file without asking
# --no-path-prompt  never ask: only print the line to add
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

ca_cert="${CODING_AGENTS_CA_CERT:-}"
build_images=1
path_choice=ask  # ask | add | print
while (($#)); do
    case $1 in
        --ca-cert) [[ -n ${2:-} ]] || die "--ca-cert needs a file (see --help)"; ca_cert=$2; shift 2 ;;
        --no-images) build_images=0; shift ;;
        --add-to-path) path_choice=add; shift ;;
        --no-path-prompt) path_choice=print; shift ;;
        -h|--help) usage; exit 0 ;;
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
# dist/shell/ holds the one shim under every shim name of the agents table (build_zipapp.py wrote it).
install_shims "$ROOT/dist/shell" "$bin_dir"
say "installed coding-agents and its shims into $bin_dir"
install_completion "$ROOT/dist/shell/completion" "$ROOT/dist/shell" "${PREFIX:+$PREFIX/share}"
offer_path "$bin_dir" "$path_choice"
# trivy (from the venv) lets image builds scan for secrets before tagging.
[[ -e "$bin_dir/trivy" ]] || ln -s "$VENV/bin/trivy" "$bin_dir/trivy"

if ((build_images)); then
    # An engine that answers (Docker Desktop, docker-ce, a remote one) is used as it is; a docker
    # client alone is not an engine: then dockerd is what we install and start.
    if ! docker info >/dev/null 2>&1; then
        ensure_packages docker:docker.io dockerd:docker.io
        ensure_engine
    fi
    # debootstrap only when no base OS image can be had otherwise (ensure_base_os_image says so).
    if ! docker image inspect coding-agents-os:bookworm >/dev/null 2>&1 \
        && ! docker image inspect debian:bookworm-slim >/dev/null 2>&1 \
        && ! docker pull --quiet debian:bookworm-slim >/dev/null 2>&1; then
        ensure_packages debootstrap:debootstrap
    fi
    ensure_base_os_image "$bin_dir/coding-agents"
    args=(images build all)
    if [[ -n $ca_cert ]]; then args+=(--ca-cert "$ca_cert"); fi
    PATH="$bin_dir:$PATH" "$bin_dir/coding-agents" "${args[@]}"
fi
PATH="$bin_dir:$PATH" "$bin_dir/coding-agents" doctor
