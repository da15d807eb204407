"""agents/signing.py: what the host signs with, and the signing bridge's requests (signers faked at the runner)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from agents import bridges, signing
from agents.errors import AgentsError
from tests.unit.gitrepos import init_repo, run_git

NAME = "claude-api-session-1"
PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests me@host"
PAYLOAD = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\n\nmsg\n"


@pytest.fixture
def repo(tmp_path) -> Path:
    return init_repo(tmp_path / "repo")


def configure(repo: Path, **values: str) -> Path:
    for key, value in values.items():
        run_git(repo, "config", key.replace("__", "."), value)
    return repo


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def audit_events(state_home: Path) -> list[dict]:
    path = state_home / "coding-agents" / "bridges" / f"{NAME}.log"
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in path.read_text().splitlines()]


# --- what the host does ------------------------------------------------------------------------------


def test_host_signing_off_by_default(repo):
    assert signing.host_signing(repo) is None


def test_host_signing_explicitly_off(repo):
    configure(repo, commit__gpgsign="false", user__signingkey="ABCDEF")

    assert signing.host_signing(repo) is None


def test_host_signing_openpgp_with_a_key(repo):
    configure(repo, commit__gpgsign="true", user__signingkey="0123456789ABCDEF")

    assert signing.host_signing(repo) == bridges.Signing("openpgp", "0123456789ABCDEF", "")


def test_host_signing_openpgp_yes_is_true_and_explicit_format(repo):
    configure(repo, commit__gpgsign="yes", gpg__format="openpgp", user__signingkey="ABCD")

    assert signing.host_signing(repo) == bridges.Signing("openpgp", "ABCD")


def test_host_signing_openpgp_without_a_key_signs_as_the_committer_email(repo):
    configure(repo, commit__gpgsign="true")

    assert signing.host_signing(repo) == bridges.Signing("openpgp", "test@example.com")


def test_host_signing_ssh_with_a_private_key_path_reads_the_pub_next_to_it(repo, tmp_path):
    key = tmp_path / "keys" / "id_ed25519"
    key.parent.mkdir()
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n-----END OPENSSH PRIVATE KEY-----\n")
    Path(str(key) + ".pub").write_text(PUBLIC + "\n")
    configure(repo, commit__gpgsign="true", gpg__format="ssh", user__signingkey=str(key))

    assert signing.host_signing(repo) == bridges.Signing("ssh", str(key), PUBLIC)


def test_host_signing_ssh_with_a_key_literal(repo):
    configure(repo, commit__gpgsign="true", gpg__format="ssh", user__signingkey=f"key::{PUBLIC}")

    assert signing.host_signing(repo) == bridges.Signing("ssh", f"key::{PUBLIC}", PUBLIC)


def test_host_signing_ssh_without_a_key_is_refused(repo):
    configure(repo, commit__gpgsign="true", gpg__format="ssh")

    with pytest.raises(AgentsError) as caught:
        signing.host_signing(repo)

    assert caught.value.message == "commit.gpgsign is on with gpg.format=ssh, but user.signingkey is not set"
    assert caught.value.hint == "set user.signingkey (git config), or turn signing off for this repo"


def test_host_signing_x509_is_refused(repo):
    configure(repo, commit__gpgsign="true", gpg__format="x509", user__signingkey="0xABC")

    with pytest.raises(AgentsError) as caught:
        signing.host_signing(repo)

    assert caught.value.message == "commits here are signed with gpg.format=x509, which coding-agents cannot bridge"
    assert caught.value.hint == "use openpgp or ssh signing, or set [credentials] signing = false"


# --- ssh public keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [f"key::{PUBLIC}", f"key:: {PUBLIC} ", PUBLIC, f"{PUBLIC}\n",
                                 "ecdsa-sha2-nistp256 AAAAE2 me", "sk-ssh-ed25519@openssh.com AAAAG me"],
                         ids=["key-literal", "key-literal-spaces", "bare-literal", "bare-newline", "ecdsa", "sk"])
def test_ssh_public_key_literals(key):
    expected = key.removeprefix("key::").strip()

    assert signing.ssh_public_key(key) == expected


def test_ssh_public_key_from_a_pub_file(tmp_path):
    (tmp_path / "id.pub").write_text(PUBLIC + "\n")

    assert signing.ssh_public_key(str(tmp_path / "id.pub")) == PUBLIC


def test_ssh_public_key_from_a_home_relative_path(isolated_home):
    (isolated_home / ".ssh").mkdir()
    (isolated_home / ".ssh" / "id_ed25519.pub").write_text(PUBLIC + "\n")

    assert signing.ssh_public_key("~/.ssh/id_ed25519") == PUBLIC


@pytest.mark.parametrize("setup", ["missing", "private-only", "not-a-key"])
def test_ssh_public_key_not_found(tmp_path, setup):
    key = tmp_path / "id_ed25519"
    if setup == "private-only":
        key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    if setup == "not-a-key":
        Path(str(key) + ".pub").write_text("hello\n")

    with pytest.raises(AgentsError) as caught:
        signing.ssh_public_key(str(key))

    assert caught.value.message == f"cannot find the public key for user.signingkey {str(key)!r}"


# --- sign: refusals ---------------------------------------------------------------------------------------


def settings(signer: bridges.Signing | None, repo: str = "/nonexistent/repo") -> bridges.BridgeSettings:
    return bridges.BridgeSettings(session=NAME, agent="claude", repo=repo, signing=signer)


OPENPGP = bridges.Signing("openpgp", "HOSTKEY0123")
SSH_LITERAL = bridges.Signing("ssh", f"key::{PUBLIC}", PUBLIC)


def refusal(reason: str) -> dict:
    return {"rc": 1, "stdout": "", "stderr": f"coding-agents: signing refused: {reason}\n"}


@pytest.mark.parametrize(
    ("signer", "request_", "reason"),
    [
        (None, {"op": "gpg", "args": ["-bsau", "K"]}, "this session has no signing bridge"),
        (SSH_LITERAL, {"op": "gpg", "args": ["-bsau", "K"]}, "'gpg' does not match the host's ssh signing"),
        (OPENPGP, {"op": "ssh-sign", "namespace": "git"}, "'ssh-sign' does not match the host's openpgp signing"),
        (OPENPGP, {"op": "export-secret-keys"}, "'export-secret-keys' does not match the host's openpgp signing"),
        (SSH_LITERAL, {"op": "ssh-sign", "namespace": "file"}, "only the git signing namespace is served"),
        (SSH_LITERAL, {"op": "ssh-sign"}, "only the git signing namespace is served"),
        (OPENPGP, {"op": "gpg", "args": ["--clearsign"]}, "only detached signing (-bsau) is served"),
        (OPENPGP, {"op": "gpg", "args": ["-u", "K", "--armor"]}, "only detached signing (-bsau) is served"),
        (OPENPGP, {"op": "gpg"}, "only detached signing (-bsau) is served"),
    ],
    ids=["no-signing", "gpg-for-ssh", "ssh-for-openpgp", "unknown-op", "other-namespace", "no-namespace",
         "clearsign", "not-detached", "no-args"],
)
def test_sign_refusals(fp, state_home, signer, request_, reason):
    answer = signing.sign(settings(signer), {**request_, "payload": b64(PAYLOAD)})

    assert answer == refusal(reason)
    assert list(fp.calls) == []  # no signer ran
    assert audit_events(state_home) == [{
        "session": NAME, "decision": "refused", "reason": reason, "kind": "sign", "op": request_.get("op"),
        "payload_sha256": hashlib.sha256(PAYLOAD).hexdigest(),
    }]


# --- sign: gpg ------------------------------------------------------------------------------------------

SIGNATURE = "-----BEGIN PGP SIGNATURE-----\n\niQEz...\n-----END PGP SIGNATURE-----\n"


def test_sign_gpg_uses_the_hosts_key_not_the_one_asked_for(fp, state_home):
    received = []
    fp.register(["gpg", "--status-fd=2", "-bsau", "HOSTKEY0123"], stdout=SIGNATURE,
                stderr="[GNUPG:] SIG_CREATED D 1 8 00 1700000000 ABC\n", stdin_callable=received.append)

    answer = signing.sign(settings(OPENPGP), {"op": "gpg", "args": ["--status-fd=2", "-bsau", "CONTAINERKEY"],
                                              "payload": b64(PAYLOAD)})

    assert answer == {"rc": 0, "stdout": b64(SIGNATURE.encode()), "stderr": "[GNUPG:] SIG_CREATED D 1 8 00 1700000000 ABC\n"}
    assert [list(call) for call in fp.calls] == [["gpg", "--status-fd=2", "-bsau", "HOSTKEY0123"]]
    assert received == [PAYLOAD]
    assert audit_events(state_home)[0]["decision"] == "signed"


def test_sign_gpg_runs_the_repos_gpg_program(repo, state_home, fp):
    fp.pass_command(["git", fp.any()], occurrences=5)
    configure(repo, gpg__program="/opt/gnupg/bin/gpg2")
    fp.register(["/opt/gnupg/bin/gpg2", "--status-fd=2", "-bsau", "HOSTKEY0123"], stdout=SIGNATURE)

    answer = signing.sign(settings(OPENPGP, repo=str(repo)), {"op": "gpg", "args": ["-bsau", "X"], "payload": b64(PAYLOAD)})

    assert answer["rc"] == 0
    assert fp.call_count(["/opt/gnupg/bin/gpg2", fp.any()]) == 1


def test_sign_gpg_failure_is_passed_on_and_audited(fp, state_home):
    fp.register(["gpg", fp.any()], returncode=2, stderr="gpg: signing failed: No secret key\n")

    answer = signing.sign(settings(OPENPGP), {"op": "gpg", "args": ["-bsau", "X"], "payload": b64(PAYLOAD)})

    assert answer == {"rc": 2, "stdout": "", "stderr": "gpg: signing failed: No secret key\n"}
    assert audit_events(state_home)[0]["decision"] == "failed"


def test_sign_gpg_verify_checks_the_signature_on_the_host(fp, state_home):
    seen = []

    def check(process):
        seen.append(Path(process.args[4]).read_bytes())

    received = []
    fp.register(["gpg", "--status-fd=1", "--keyid-format=long", "--verify", fp.any(min=1, max=1), "-"],
                stdout="[GNUPG:] GOODSIG ABC Ada\n", callback=check, stdin_callable=received.append)

    answer = signing.sign(settings(OPENPGP), {"op": "gpg", "args": ["--status-fd=1", "--verify", "/tmp/x.sig", "-"],
                                              "payload": b64(PAYLOAD), "signature": b64(SIGNATURE.encode())})

    assert answer == {"rc": 0, "stdout": b64(b"[GNUPG:] GOODSIG ABC Ada\n"), "stderr": ""}
    assert seen == [SIGNATURE.encode()]
    assert received == [PAYLOAD]


# --- sign: ssh ------------------------------------------------------------------------------------------


def write_signature(process, data: bytes = b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"):
    """What ssh-keygen -Y sign does: MESSAGE.sig next to the message."""
    Path(process.args[-1] + ".sig").write_bytes(data)


def test_sign_ssh_with_a_key_literal_signs_with_its_public_key_file(fp, state_home):
    seen = []

    def sign(process):
        seen.append((Path(process.args[-2]).read_text(), Path(process.args[-1]).read_bytes()))
        write_signature(process)

    fp.register(["ssh-keygen", "-Y", "sign", "-n", "git", "-f", fp.any(min=2, max=2)], callback=sign)

    answer = signing.sign(settings(SSH_LITERAL), {"op": "ssh-sign", "namespace": "git", "payload": b64(PAYLOAD)})

    assert answer == {"rc": 0, "stdout": b64(b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"),
                      "stderr": ""}
    assert seen == [(PUBLIC + "\n", PAYLOAD)]
    (call,) = fp.calls
    assert Path(call[-2]).name == "key.pub" and not Path(call[-2]).exists()  # a temporary copy, gone afterwards
    assert audit_events(state_home)[0]["decision"] == "signed"


def test_sign_ssh_with_a_key_path_passes_the_expanded_path(fp, state_home, isolated_home):
    fp.register(["ssh-keygen", "-Y", "sign", "-n", "git", "-f", f"{isolated_home}/.ssh/id_ed25519", fp.any(min=1, max=1)],
                callback=write_signature)

    answer = signing.sign(settings(bridges.Signing("ssh", "~/.ssh/id_ed25519", PUBLIC)),
                          {"op": "ssh-sign", "namespace": "git", "payload": b64(PAYLOAD)})

    assert answer["rc"] == 0


@pytest.mark.parametrize(("returncode", "writes", "expected_rc"), [(255, False, 255), (0, False, 1)],
                         ids=["signer-failed", "no-signature-written"])
def test_sign_ssh_failures(fp, state_home, returncode, writes, expected_rc):
    fp.register(["ssh-keygen", fp.any()], returncode=returncode, stderr="Couldn't sign message\n")

    answer = signing.sign(settings(SSH_LITERAL), {"op": "ssh-sign", "namespace": "git", "payload": b64(PAYLOAD)})

    assert answer == {"rc": expected_rc, "stdout": "", "stderr": "Couldn't sign message\n"}
    assert audit_events(state_home)[0]["decision"] == "failed"


def test_program_default_outside_a_repo():
    assert signing.program("/nonexistent/repo", "gpg.program", "gpg") == "gpg"


def test_program_from_the_repo_config(repo):
    configure(repo, gpg__ssh__program="/opt/ssh/bin/ssh-keygen")

    assert signing.program(str(repo), "gpg.ssh.program", "ssh-keygen") == "/opt/ssh/bin/ssh-keygen"
    assert signing.program(str(repo), "gpg.program", "gpg") == "gpg"
