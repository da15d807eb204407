"""agents/runner.py: the one subprocess seam (faked with pytest-subprocess; real processes for pipes)."""

from __future__ import annotations

import logging

import pytest

from agents import runner
from agents.errors import AgentsError

TOKEN = "ghp_not-a-real-token"


def test_display_redacts_secret_and_quotes():
    shown = runner.display(["gh", "auth", "--with-token", runner.Secret(TOKEN), "two words"])

    assert shown == "gh auth --with-token *** 'two words'"
    assert TOKEN not in shown


def test_secret_str_and_repr_hide_value():
    secret = runner.Secret(TOKEN)

    assert str(secret) == "***"
    assert TOKEN not in repr(secret)
    assert TOKEN not in f"{secret}"


def test_reveal_returns_real_values():
    assert runner.reveal(["a", runner.Secret(TOKEN)]) == ["a", TOKEN]


def test_run_passes_revealed_secret_to_process(fp):
    fp.register(["tool", "--token", TOKEN], stdout="fine\n")

    result = runner.run(["tool", "--token", runner.Secret(TOKEN)])

    assert result.stdout == "fine\n"
    assert list(fp.calls[0]) == ["tool", "--token", TOKEN]
    assert result.command == "tool --token ***"


def test_run_debug_log_redacts_secret(fp, caplog):
    fp.register(["tool", TOKEN])

    with caplog.at_level(logging.DEBUG, logger="agents.runner"):
        runner.run(["tool", runner.Secret(TOKEN)])

    assert "run: tool ***" in caplog.text
    assert TOKEN not in caplog.text


def test_run_failure_message_redacts_secret_and_names_last_stderr_line(fp):
    fp.register(["tool", TOKEN], returncode=2, stderr="warming up\nfatal: bad credentials\n\n")

    with pytest.raises(runner.CommandFailed) as caught:
        runner.run(["tool", runner.Secret(TOKEN)], hint="check the token")

    assert caught.value.message == "`tool ***` failed with exit code 2: fatal: bad credentials"
    assert caught.value.hint == "check the token"
    assert caught.value.result.returncode == 2
    assert TOKEN not in str(caught.value)


def test_run_failure_falls_back_to_stdout_line(fp):
    fp.register(["tool"], returncode=1, stdout="only stdout says why\n")

    with pytest.raises(runner.CommandFailed, match="exit code 1: only stdout says why$"):
        runner.run(["tool"])


def test_run_failure_without_output_has_no_detail(fp):
    fp.register(["tool"], returncode=5)

    with pytest.raises(runner.CommandFailed) as caught:
        runner.run(["tool"])

    assert caught.value.message == "`tool` failed with exit code 5"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("tool", "tool"),
        ("docker rm --force x", "docker rm --force x"),
        ("docker volume rm --force a", "docker volume rm --force a"),  # five words: still whole
        ("docker run --detach --name x --label a=b img", "docker run --detach ..."),
        ("", ""),
    ],
)
def test_short_command_keeps_short_commands_and_cuts_long_ones(command, expected):
    assert runner.short_command(command) == expected


def test_short_command_word_count_is_adjustable():
    assert runner.short_command("a b c d e f g h", words=5) == "a b c d e ..."
    assert runner.short_command("a b c d e f g", words=5) == "a b c d e f g"


def test_run_failure_skips_docker_usage_note(fp):
    argv = ["docker", "run", "--detach", "--name", "x", "--label", "a=b", "img"]
    fp.register(argv, returncode=125, stderr=(
        'docker: Error response from daemon: Conflict. The container name "/x" is already in use.\n'
        "See 'docker run --help'.\n"
    ))

    with pytest.raises(runner.CommandFailed) as caught:
        runner.run(argv)

    assert caught.value.message == (
        '`docker run --detach ...` failed with exit code 125: docker: Error response from daemon: '
        'Conflict. The container name "/x" is already in use.'
    )
    assert caught.value.result.command == "docker run --detach --name x --label a=b img"


@pytest.mark.parametrize(
    ("stderr", "detail"),
    [
        ("flag provided but not defined: --bogus\nRun 'docker network create --help' for more information\n",
         "flag provided but not defined: --bogus"),
        ("  See 'docker run --help'.\n", "from stdout"),  # nothing but the note: stdout explains
        ("See 'man git' for details\n", "See 'man git' for details"),  # not a --help note: kept
        ("Run the tests again\n", "Run the tests again"),
    ],
    ids=["run-note", "only-note", "see-without-help", "run-without-help"],
)
def test_run_failure_usage_note_filtering(fp, stderr, detail):
    fp.register(["tool"], returncode=1, stdout="from stdout\n", stderr=stderr)

    with pytest.raises(runner.CommandFailed) as caught:
        runner.run(["tool"])

    assert caught.value.message == f"`tool` failed with exit code 1: {detail}"


def test_command_failed_is_an_agents_error(fp):
    fp.register(["tool"], returncode=1)

    with pytest.raises(AgentsError):
        runner.run(["tool"])


def test_run_check_false_returns_result(fp):
    fp.register(["tool"], returncode=3, stdout="out", stderr="err")

    result = runner.run(["tool"], check=False)

    assert result == runner.Result("tool", 3, "out", "err")
    assert not result.ok


def test_run_sends_text_input(fp):
    received = []
    fp.register(["cat"], stdin_callable=received.append)

    runner.run(["cat"], input="hello")

    assert received == ["hello"]


def test_run_missing_program_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no docker here

    with pytest.raises(AgentsError) as caught:
        runner.run(["docker", "version"])

    assert caught.value.message == "`docker` is not installed or not on PATH"
    assert "apt-get install docker.io" in caught.value.hint
    assert "coding-agents doctor" in caught.value.hint
    assert not isinstance(caught.value, runner.CommandFailed)


def test_run_missing_unknown_program_gives_generic_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(AgentsError) as caught:
        runner.run(["/nonexistent/frobnicate"])

    assert caught.value.message == "`frobnicate` is not installed or not on PATH"
    assert caught.value.hint.startswith("install it;")


def test_run_timeout_becomes_agents_error():
    with pytest.raises(AgentsError) as caught:
        runner.run(["sleep", "5"], timeout=0.05, hint="is the engine stuck?")

    assert caught.value.message == "`sleep 5` did not finish within 0.05s"
    assert caught.value.hint == "is the engine stuck?"


def test_run_json_parses_stdout(fp):
    fp.register(["tool"], stdout='{"Server": {"Version": "27.3.1"}}')

    assert runner.run_json(["tool"]) == {"Server": {"Version": "27.3.1"}}


def test_run_json_rejects_garbage(fp):
    fp.register(["tool"], stdout="Error: not json at all")

    with pytest.raises(AgentsError, match="^`tool` printed output that is not JSON"):
        runner.run_json(["tool"])


def test_run_json_lines_parses_each_line_and_skips_blanks(fp):
    fp.register(["tool"], stdout='{"a": 1}\n\n{"a": 2}\n')

    assert runner.run_json_lines(["tool"]) == [{"a": 1}, {"a": 2}]


def test_run_json_lines_rejects_garbage_line(fp):
    fp.register(["tool"], stdout='{"a": 1}\nWARNING: something\n')

    with pytest.raises(AgentsError, match="^`tool` printed a line that is not JSON"):
        runner.run_json_lines(["tool"])


def test_run_json_lines_empty_output_is_empty_list(fp):
    fp.register(["tool"], stdout="")

    assert runner.run_json_lines(["tool"]) == []


# run_pipeline wires two real processes together, so these use real binaries (no fp).


def test_run_pipeline_returns_consumer_result():
    result = runner.run_pipeline(["printf", "hello world"], ["tr", "a-z", "A-Z"])

    assert result.ok
    assert result.stdout == "HELLO WORLD"
    assert result.command == "tr a-z A-Z"


def test_run_pipeline_producer_failure_names_producer():
    with pytest.raises(runner.CommandFailed) as caught:
        runner.run_pipeline(["sh", "-c", "echo tar: cannot open >&2; exit 3"], ["cat"], hint="producer hint")

    # Long commands are cut to their first three words (--debug logs show them whole).
    assert caught.value.message == "`sh -c 'echo ...` failed with exit code 3: tar: cannot open"
    assert caught.value.result.command == "sh -c 'echo tar: cannot open >&2; exit 3'"
    assert caught.value.hint == "producer hint"


def test_run_pipeline_consumer_failure_names_consumer():
    # The consumer drains stdin before failing, so the producer never sees SIGPIPE.
    consumer = ["sh", "-c", "cat >/dev/null; echo import refused >&2; exit 4"]

    with pytest.raises(runner.CommandFailed) as caught:
        runner.run_pipeline(["true"], consumer)

    assert caught.value.result.returncode == 4
    assert caught.value.message.endswith("failed with exit code 4: import refused")


def test_run_pipeline_missing_producer_is_agents_error():
    with pytest.raises(AgentsError, match="^`no-such-producer` is not installed"):
        runner.run_pipeline(["no-such-producer"], ["cat"])


def test_run_pipeline_missing_consumer_is_agents_error():
    with pytest.raises(AgentsError, match="^`no-such-consumer` is not installed"):
        runner.run_pipeline(["printf", "x"], ["no-such-consumer"])


def test_last_line_skips_blank_lines():
    assert runner.last_line("first\n  second  \n\n") == "second"
    assert runner.last_line(None) == ""


def test_which_finds_real_program():
    assert runner.which("sh") is not None
    assert runner.which("coding-agents-no-such-program") is None


# --- Ctrl-C while a launch creates things (deferred_interrupts) ----------------------------------


def interrupt_me() -> None:
    """What the terminal's Ctrl-C does to this process (the handler runs at the next bytecode)."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGINT)


def test_deferred_interrupt_is_raised_at_the_next_child_not_in_between(fp):
    fp.register(["docker", "volume", "create", "v"], callback=lambda process: interrupt_me())
    fp.register(["docker", "volume", "create", "w"])
    seen = []

    with pytest.raises(KeyboardInterrupt), runner.deferred_interrupts():
        runner.run(["docker", "volume", "create", "v"])
        seen.append("plain code after the child that saw the signal still runs")
        runner.run(["docker", "volume", "create", "w"])

    assert seen == []  # raised right after the child that was running: a checkpoint
    assert fp.call_count(["docker", "volume", "create", "w"]) == 0


def test_deferred_interrupt_noted_between_children_stops_the_next_one(fp):
    fp.register(["docker", "volume", "create", "w"])

    with pytest.raises(KeyboardInterrupt), runner.deferred_interrupts():
        interrupt_me()
        for _ in range(1000):  # plain Python: the handler has run, nothing was raised
            pass
        runner.run(["docker", "volume", "create", "w"])

    assert fp.call_count(["docker", "volume", "create", "w"]) == 0


def test_deferred_interrupt_not_at_a_checkpoint_is_raised_on_leaving():
    with pytest.raises(KeyboardInterrupt), runner.deferred_interrupts():
        interrupt_me()
        for _ in range(1000):
            pass


def test_deferred_interrupts_restore_the_previous_handler():
    import signal

    before = signal.getsignal(signal.SIGINT)
    with runner.deferred_interrupts():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):  # and a Ctrl-C now is an ordinary one again
        interrupt_me()
        for _ in range(1000):
            pass


def test_shielded_code_runs_to_its_end_and_the_interrupt_comes_after(fp):
    fp.register(["docker", "rm", "--force", "x"], occurrences=2)

    with pytest.raises(KeyboardInterrupt), runner.deferred_interrupts():
        with runner.shielded():
            runner.run(["docker", "rm", "--force", "x"])
            interrupt_me()
            runner.run(["docker", "rm", "--force", "x"])

    assert fp.call_count(["docker", "rm", "--force", "x"]) == 2


def test_pause_is_a_checkpoint(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: interrupt_me())

    with pytest.raises(KeyboardInterrupt), runner.deferred_interrupts():
        runner.pause(0.1)


def test_deferred_children_have_their_own_process_group_and_no_terminal_stdin():
    # Real processes: the terminal's Ctrl-C goes to its foreground group, and must not cut an engine call short.
    import os

    with runner.deferred_interrupts():
        inside = runner.run(["sh", "-c", "ps -o pgid= -p $$; echo $$; readlink /proc/self/fd/0"]).stdout.split()
    outside = runner.run(["sh", "-c", "ps -o pgid= -p $$"]).stdout.split()

    assert inside[0] == inside[1] != str(os.getpgrp())  # the child leads a group of its own
    assert inside[2] == "/dev/null"
    assert outside[0] == str(os.getpgrp())


def test_deferred_interruptible_child_gets_the_signal_and_the_interrupt_follows():
    # A build or pull only waits or downloads: Ctrl-C stops it instead of waiting for it to finish.
    import threading
    import time

    threading.Timer(0.3, interrupt_me).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), runner.deferred_interrupts():
        runner.run(["sleep", "30"], interruptible=True)

    assert time.monotonic() - started < 10


def test_spawn_detached_leads_its_own_group_and_logs(tmp_path):
    import os
    import time

    log_path = tmp_path / "helper.log"
    pid = runner.spawn_detached(["sh", "-c", "echo started; sleep 30"], log_path)
    try:
        assert os.getpgid(pid) == pid
        assert os.getsid(pid) == pid
        deadline = time.monotonic() + 10
        while "started" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log_path.read_text() == "started\n"
    finally:
        os.killpg(pid, 15)


# --- run_with_file: a file through this process, with progress ------------------------------------


def test_run_with_file_writes_the_childs_stdout_to_the_file_and_counts_it(tmp_path):
    target = tmp_path / "out.bin"
    seen = []

    result = runner.run_with_file(["sh", "-c", "head -c 3000000 /dev/zero; echo note >&2"], stdout_path=target,
                                  progress=seen.append, interval=0.01)

    assert target.stat().st_size == 3_000_000
    assert seen[-1] == 3_000_000 and seen == sorted(seen)
    assert result.stderr == "note\n"


def test_run_with_file_feeds_the_file_to_the_childs_stdin(tmp_path):
    source = tmp_path / "in.bin"
    source.write_bytes(b"y" * 2_500_000)
    seen = []

    result = runner.run_with_file(["wc", "-c"], stdin_path=source, progress=seen.append)

    assert result.stdout.strip() == "2500000"
    assert seen[-1] == 2_500_000


def test_run_with_file_failure_is_command_failed_with_its_stderr(tmp_path):
    source = tmp_path / "in.bin"
    source.write_bytes(b"z" * 5_000_000)

    with pytest.raises(runner.CommandFailed) as caught:
        runner.run_with_file(["sh", "-c", "echo not an archive >&2; exit 1"], stdin_path=source, hint="h")

    assert caught.value.message.endswith("failed with exit code 1: not an archive")
    assert caught.value.hint == "h"


def test_progress_on_a_terminal_redraws_one_line(monkeypatch):
    import io

    from agents.output import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    meter = Progress("loading x.tar", 4_000_000, stream=screen)
    meter(1_000_000)
    meter(2_000_000)
    meter.finish()

    shown = screen.getvalue()
    assert "\r\033[K==> loading x.tar: 1.0 MB of 4.0 MB (25%)" in shown
    assert "\r\033[K==> loading x.tar: 2.0 MB of 4.0 MB (50%)" in shown
    assert shown.endswith("\r\033[K==> loading x.tar: done, 2.0 MB in 0s\n")
    assert shown.count("\n") == 1  # nothing scrolls by


def test_a_run_inside_started_early_takes_the_early_childs_output_and_runs_nothing_again(tmp_path):
    """The child starts when the block begins (it has written its mark before any run), the run of
    the very same argv takes its output, and outside the block the argv runs anew."""
    marks = tmp_path / "marks"
    argv = ["sh", "-c", f"echo started >> {marks}; echo answer"]
    with runner.started_early(argv):
        for _ in range(100):
            if marks.exists():
                break
            runner.pause(0.05)
        assert marks.read_text() == "started\n"  # before any run()
        assert runner.run(argv).stdout == "answer\n"
        assert runner.run(["sh", "-c", "echo other"]).stdout == "other\n"  # another argv: its own child
        assert marks.read_text() == "started\n"
        assert runner.run(argv).stdout == "answer\n"  # a second run inside: a child of its own
        assert marks.read_text() == "started\nstarted\n"
    assert runner.run(argv).ok
    assert marks.read_text() == "started\nstarted\nstarted\n"


def test_started_early_stops_a_child_no_run_took_and_leaves_a_missing_program_to_run():
    argv = ["sleep", "30"]
    with runner.started_early(argv, ["no-such-program-here"]):
        child = runner._started_early[tuple(argv)]
        assert tuple(["no-such-program-here"]) not in runner._started_early
        with pytest.raises(AgentsError, match="no-such-program-here"):
            runner.run(["no-such-program-here"])
    assert child.returncode is not None  # killed and reaped as the block ended
    assert runner._started_early == {}


def test_a_run_with_input_env_or_cwd_never_takes_an_early_child(tmp_path):
    argv = ["sh", "-c", "pwd; echo ${EARLY_PROBE:-unset}"]
    with runner.started_early(argv):
        assert runner.run(argv, cwd=tmp_path).stdout == f"{tmp_path}\nunset\n"
        assert runner.run(argv, env={"PATH": "/usr/bin:/bin", "EARLY_PROBE": "set"}).stdout.endswith("set\n")
        assert tuple(argv) in runner._started_early  # still there for the run it was started for
