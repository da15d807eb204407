"""The signing bridge: commits made inside are signed by the host's gpg or ssh-keygen.

The container's gpg.program (ca-gpg) and gpg.ssh.program (ca-ssh-keygen) send the payload here;
the host signs it with the key its own git config names. The private key never leaves the host.
Only git's signing namespace is served, and every request is audited (payload hash only).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path

from agents import bridges, git, runner
from agents.errors import AgentsError

_PUBLIC_KEY_PREFIXES = ("ssh-", "ecdsa-", "sk-")


def host_signing(repo: Path) -> bridges.Signing | None:
    """What the host does for commits in this repo: None unless commit.gpgsign is on."""
    enabled = git.git(repo, "config", "--type=bool", "--get", "commit.gpgsign", check=False).stdout.strip()
    if enabled != "true":
        return None
    kind = git.git(repo, "config", "--get", "gpg.format", check=False).stdout.strip() or "openpgp"
    key = git.git(repo, "config", "--get", "user.signingkey", check=False).stdout.strip()
    if kind == "openpgp":
        return bridges.Signing("openpgp", key or git.identity(repo)[1])
    if kind == "ssh":
        if not key:
            raise AgentsError("commit.gpgsign is on with gpg.format=ssh, but user.signingkey is not set",
                              hint="set user.signingkey (git config), or turn signing off for this repo")
        return bridges.Signing("ssh", key, ssh_public_key(key))
    raise AgentsError(f"commits here are signed with gpg.format={kind}, which coding-agents cannot bridge",
                      hint="use openpgp or ssh signing, or set [credentials] signing = false")


def ssh_public_key(key: str) -> str:
    """git's user.signingkey for ssh: 'key::<public key>', a public key literal, or a key file path."""
    if key.startswith("key::"):
        return key[len("key::"):].strip()
    if key.startswith(_PUBLIC_KEY_PREFIXES):
        return key.strip()
    path = Path(os.path.expanduser(key))
    for candidate in (path, Path(str(path) + ".pub")):
        try:
            text = candidate.read_text().strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.startswith(_PUBLIC_KEY_PREFIXES):
            return text
    raise AgentsError(f"cannot find the public key for user.signingkey {key!r}",
                      hint="point user.signingkey at a .pub file (or its private key with the .pub next to it)")


def program(repo: str, setting: str, default: str) -> str:
    found = git.git(repo, "config", "--get", setting, check=False).stdout.strip() if Path(repo).is_dir() else ""
    return found or default


def sign(settings: bridges.BridgeSettings, request: dict) -> dict:
    import binascii

    signing = settings.signing
    if not isinstance(request, dict):
        return _refuse(settings, {"kind": "sign"}, "malformed request")
    try:
        payload = base64.b64decode(request.get("payload", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        return _refuse(settings, {"kind": "sign"}, "malformed payload")
    event = {"kind": "sign", "op": request.get("op"), "payload_sha256": hashlib.sha256(payload).hexdigest()}
    if signing is None:
        return _refuse(settings, event, "this session has no signing bridge")
    if request.get("op") == "gpg" and signing.format == "openpgp":
        args = [str(arg) for arg in request.get("args", [])]
        gpg = program(settings.repo, "gpg.program", "gpg")
        if "--verify" in args:
            return _gpg_verify(gpg, payload, base64.b64decode(request.get("signature", "")))
        if not any(arg.startswith("-") and "s" in arg and "b" in arg for arg in args):
            return _refuse(settings, event, "only detached signing (-bsau) is served")
        # The host's configured key, whatever key id the container asked for.
        done = runner.run([gpg, "--status-fd=2", "-bsau", signing.key], input=payload, check=False, timeout=120)
        bridges.audit(settings.session, decision="signed" if done.ok else "failed", **event)
        return _answer(done.returncode, done.stdout.encode(), done.stderr)
    if request.get("op") == "ssh-sign" and signing.format == "ssh":
        if request.get("namespace") != "git":
            return _refuse(settings, event, "only the git signing namespace is served")
        ssh_keygen = program(settings.repo, "gpg.ssh.program", "ssh-keygen")
        with tempfile.TemporaryDirectory(prefix="coding-agents-sign-") as tmp:
            message = Path(tmp) / "payload"
            message.write_bytes(payload)
            key_file = signing.key
            if signing.key.startswith("key::") or signing.key.startswith(_PUBLIC_KEY_PREFIXES):
                key_file = str(Path(tmp) / "key.pub")
                Path(key_file).write_text(signing.public_key + "\n")
            done = runner.run([ssh_keygen, "-Y", "sign", "-n", "git", "-f", os.path.expanduser(key_file), str(message)],
                              check=False, timeout=120)
            signature = Path(str(message) + ".sig")
            data = signature.read_bytes() if done.ok and signature.exists() else b""
        bridges.audit(settings.session, decision="signed" if data else "failed", **event)
        return _answer(done.returncode if data else (done.returncode or 1), data, done.stderr)
    return _refuse(settings, event, f"{request.get('op')!r} does not match the host's {signing.format} signing")


def _gpg_verify(gpg: str, payload: bytes, signature: bytes) -> dict:
    with tempfile.NamedTemporaryFile(prefix="coding-agents-sig-", suffix=".asc") as sig_file:
        sig_file.write(signature)
        sig_file.flush()
        done = runner.run([gpg, "--status-fd=1", "--keyid-format=long", "--verify", sig_file.name, "-"],
                          input=payload, check=False, timeout=60)
    return _answer(done.returncode, done.stdout.encode(), done.stderr)


def _answer(rc: int, stdout: bytes, stderr: str) -> dict:
    return {"rc": rc, "stdout": base64.b64encode(stdout).decode(), "stderr": stderr}


def _refuse(settings: bridges.BridgeSettings, event: dict, reason: str) -> dict:
    bridges.audit(settings.session, decision="refused", reason=reason, **event)
    return _answer(1, b"", f"coding-agents: signing refused: {reason}\n")
