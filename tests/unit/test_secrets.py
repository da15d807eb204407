"""agents/secrets.py: the host's secret store (names in the clear, values sealed with AES-GCM) and its commands."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from agents import cli, paths, secrets
from agents.errors import AgentsError

TOKEN = "ghp_0123456789abcdefSECRET"


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "coding-agents" / "secrets"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raises(call, *args) -> AgentsError:
    with pytest.raises(AgentsError) as caught:
        call(*args)
    return caught.value


def test_store_is_in_the_data_folder(store):
    assert paths.secrets_dir() == store


def test_set_get_list_remove_round_trip(store):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)
    secrets.set_secret("API_KEY", "k€y with spaces\nand a newline")

    assert secrets.names() == ["API_KEY", "GITHUB_TOKEN"]
    assert secrets.get_secret("GITHUB_TOKEN") == TOKEN
    assert secrets.get_secret("API_KEY") == "k€y with spaces\nand a newline"

    secrets.set_secret("GITHUB_TOKEN", "replaced")

    assert secrets.get_secret("GITHUB_TOKEN") == "replaced"
    assert secrets.remove_secret("GITHUB_TOKEN") is True
    assert secrets.names() == ["API_KEY"]
    assert secrets.remove_secret("GITHUB_TOKEN") is False


def test_store_files_are_private(store):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)

    assert mode_of(store) == 0o700
    assert mode_of(store / "key") == 0o600
    assert mode_of(store / "secrets.json") == 0o600
    assert mode_of(store / ".lock") == 0o600
    assert len((store / "key").read_bytes()) == 32
    assert sorted(path.name for path in store.iterdir()) == [".lock", "key", "secrets.json"]  # no temporaries left


def test_a_too_open_store_folder_is_closed_again(store):
    store.mkdir(parents=True)
    store.chmod(0o755)

    secrets.set_secret("GITHUB_TOKEN", TOKEN)

    assert mode_of(store) == 0o700


def test_values_are_sealed_not_stored(store):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)

    text = (store / "secrets.json").read_text()
    entry = json.loads(text)["GITHUB_TOKEN"]
    assert TOKEN not in text
    assert base64.b64encode(TOKEN.encode()).decode() not in text
    assert sorted(entry) == ["nonce", "sealed"]
    assert len(base64.b64decode(entry["nonce"])) == 12
    assert len(base64.b64decode(entry["sealed"])) == len(TOKEN) + 16  # ciphertext and tag


def test_the_same_value_twice_is_sealed_differently(store):
    secrets.set_secret("A", TOKEN)
    secrets.set_secret("B", TOKEN)

    entries = json.loads((store / "secrets.json").read_text())
    assert entries["A"]["sealed"] != entries["B"]["sealed"]


def test_a_value_moved_to_another_name_does_not_decrypt(store):
    secrets.set_secret("PUBLIC_NAME", "not secret")
    secrets.set_secret("GITHUB_TOKEN", TOKEN)
    entries = json.loads((store / "secrets.json").read_text())
    entries["PUBLIC_NAME"] = entries["GITHUB_TOKEN"]
    (store / "secrets.json").write_text(json.dumps(entries))

    error = raises(secrets.get_secret, "PUBLIC_NAME")

    assert error.message == "the secret PUBLIC_NAME cannot be decrypted (the store or its key was changed)"
    assert error.hint == "set it again: coding-agents secrets set PUBLIC_NAME"
    assert secrets.get_secret("GITHUB_TOKEN") == TOKEN


def test_another_key_cannot_decrypt(store):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)
    (store / "key").write_bytes(os.urandom(32))

    assert raises(secrets.get_secret, "GITHUB_TOKEN").message == \
        "the secret GITHUB_TOKEN cannot be decrypted (the store or its key was changed)"


@pytest.mark.parametrize("entry", [{"nonce": "!!", "sealed": "x"}, {"sealed": "AAAA"}, "just a string"],
                         ids=["bad-base64", "no-nonce", "not-a-table"])
def test_a_damaged_entry_cannot_be_decrypted(store, entry):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)
    (store / "secrets.json").write_text(json.dumps({"GITHUB_TOKEN": entry}))

    assert raises(secrets.get_secret, "GITHUB_TOKEN").message == \
        "the secret GITHUB_TOKEN cannot be decrypted (the store or its key was changed)"


def test_get_unknown_secret(store):
    error = raises(secrets.get_secret, "NOPE")

    assert error.message == "no secret named NOPE"
    assert error.hint == "set it: coding-agents secrets set NOPE"

    secrets.set_secret("OTHER", "x")

    assert raises(secrets.get_secret, "NOPE").message == "no secret named NOPE"


def test_get_with_the_key_gone(store):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)
    (store / "key").unlink()

    assert raises(secrets.get_secret, "GITHUB_TOKEN").message == "no secret named GITHUB_TOKEN"


@pytest.mark.parametrize("size", [0, 16, 33])
def test_a_key_of_the_wrong_size(store, size):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)
    (store / "key").write_bytes(b"k" * size)

    error = raises(secrets.get_secret, "GITHUB_TOKEN")

    assert error.message == f"{store / 'key'} is not a key this tool wrote"
    assert error.hint == "restore it from a backup, or remove the secrets folder and set the secrets again"
    assert raises(secrets.set_secret, "OTHER", "x").message == f"{store / 'key'} is not a key this tool wrote"


def test_a_store_that_is_not_json(store):
    store.mkdir(parents=True)
    (store / "secrets.json").write_text("{oops")

    error = raises(secrets.names)

    assert error.message.startswith(f"cannot read the secret store {store / 'secrets.json'}: ")
    assert raises(secrets.set_secret, "A", "x").message.startswith("cannot read the secret store")


@pytest.mark.parametrize("text", ["[]", '"x"', "3"])
def test_a_store_that_is_not_an_object(store, text):
    store.mkdir(parents=True)
    (store / "secrets.json").write_text(text)

    error = raises(secrets.names)

    assert error.message == f"the secret store {store / 'secrets.json'} is damaged"
    assert error.hint == "remove it and set the secrets again"


def test_names_of_an_empty_store(store):
    assert secrets.names() == []
    assert not store.exists()


def test_remove_from_a_store_that_does_not_exist(store):
    assert secrets.remove_secret("GITHUB_TOKEN") is False
    assert not store.exists()


@pytest.mark.parametrize("name", ["", "1ABC", "has-dash", "has space", "A" * 129, "a.b", "ÄB", "${X}"])
def test_bad_names(store, name):
    for call, args in ((secrets.set_secret, (name, "v")), (secrets.remove_secret, (name,)),
                       (secrets.validate_name, (name,))):
        error = raises(call, *args)
        assert error.message == f"{name!r} is not a valid secret name"
        assert error.hint == "use letters, digits and '_', not starting with a digit (e.g. GITHUB_TOKEN)"
    assert not store.exists()


@pytest.mark.parametrize("name", ["A", "_", "github_token", "X" * 128, "A1_B2"])
def test_good_names(name):
    assert secrets.validate_name(name) == name


def test_empty_value(store):
    error = raises(secrets.set_secret, "A", "")

    assert (error.message, error.hint) == ("the secret is empty", "type or pipe in a value")
    assert not store.exists()


def test_value_size_limit(store):
    secrets.set_secret("BIG", "x" * secrets.MAX_VALUE_BYTES)

    assert raises(secrets.set_secret, "BIGGER", "x" * (secrets.MAX_VALUE_BYTES + 1)).message == \
        "the secret is larger than 64 KiB"
    assert raises(secrets.set_secret, "WIDE", "€" * (secrets.MAX_VALUE_BYTES // 3 + 1)).message == \
        "the secret is larger than 64 KiB"  # bytes, not characters
    assert secrets.names() == ["BIG"]


# --- coding-agents secrets set|list|rm ----------------------------------------------------------------


class Piped(io.StringIO):
    def isatty(self) -> bool:
        return False


def run_cli(*argv: str) -> int:
    return cli.main(["secrets", *argv], prog="coding-agents")


@pytest.mark.parametrize(("typed", "stored"), [
    (TOKEN + "\n", TOKEN), (TOKEN, TOKEN), (TOKEN + "\n\n", TOKEN + "\n"), ("line1\nline2\n", "line1\nline2"),
], ids=["one-newline", "no-newline", "two-newlines", "multi-line"])
def test_secrets_set_reads_stdin_and_drops_one_newline(store, monkeypatch, capsys, typed, stored):
    monkeypatch.setattr(sys, "stdin", Piped(typed))

    assert run_cli("set", "GITHUB_TOKEN") == 0

    assert secrets.get_secret("GITHUB_TOKEN") == stored
    out, err = capsys.readouterr()
    assert (out, err) == ("", "stored GITHUB_TOKEN\n")


def test_secrets_set_prompts_hidden_on_a_terminal(store, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts = []
    monkeypatch.setattr(sys, "stdin", Terminal("never read"))
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or TOKEN)

    assert run_cli("set", "GITHUB_TOKEN") == 0

    assert prompts == ["value for GITHUB_TOKEN (hidden): "]
    assert secrets.get_secret("GITHUB_TOKEN") == TOKEN


def test_secrets_set_bad_name_reads_nothing(store, monkeypatch, capsys):
    piped = Piped(TOKEN)
    monkeypatch.setattr(sys, "stdin", piped)

    assert run_cli("set", "bad-name") == 2  # a usage error: the name on the command line is wrong

    assert piped.tell() == 0
    assert capsys.readouterr().err == ("error: 'bad-name' is not a valid secret name\n"
                                       "hint: use letters, digits and '_', not starting with a digit (e.g. GITHUB_TOKEN)\n")


def test_secrets_set_bytes_that_are_not_utf8_is_a_clean_error(store, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Piped(b"\xff\xfe".decode("utf-8", "surrogateescape")))

    assert run_cli("set", "GITHUB_TOKEN") == 1

    assert capsys.readouterr().err == "error: the secret is not UTF-8 text\nhint: store it as text, e.g. base64-encoded\n"
    assert secrets.names() == []


def test_secrets_list_json_names_only(store, capsys):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)
    secrets.set_secret("API_KEY", "other-value")

    assert run_cli("list", "--json") == 0

    out = capsys.readouterr().out
    assert json.loads(out) == [{"name": "API_KEY"}, {"name": "GITHUB_TOKEN"}]
    assert TOKEN not in out and "other-value" not in out


def test_secrets_list_json_empty_is_an_empty_list(store, capsys):
    assert run_cli("list", "--json") == 0

    assert json.loads(capsys.readouterr().out) == []


def test_secrets_set_empty_stdin(store, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Piped("\n"))

    assert run_cli("set", "GITHUB_TOKEN") == 1

    assert capsys.readouterr().err == "error: the secret is empty\nhint: type or pipe in a value\n"


def test_secrets_list_prints_names_only(store, capsys):
    secrets.set_secret("B_TOKEN", TOKEN)
    secrets.set_secret("A_TOKEN", "other-value")

    assert run_cli("list") == 0

    out = capsys.readouterr().out
    assert out == "A_TOKEN\nB_TOKEN\n"


def test_secrets_list_empty(store, capsys):
    assert run_cli("list") == 0

    assert capsys.readouterr().out == ""


def test_secrets_rm(store, capsys):
    secrets.set_secret("GITHUB_TOKEN", TOKEN)

    assert run_cli("rm", "GITHUB_TOKEN") == 0

    assert capsys.readouterr().out == "removed GITHUB_TOKEN\n"
    assert secrets.names() == []


def test_secrets_rm_unknown(store, capsys):
    assert run_cli("rm", "GITHUB_TOKEN") == 1

    assert capsys.readouterr().err == ("error: no secret named GITHUB_TOKEN\n"
                                       "hint: `coding-agents secrets list` shows the names\n")


def test_secrets_without_a_verb_prints_help(store, capsys):
    assert run_cli() == 0

    assert "set" in capsys.readouterr().out
