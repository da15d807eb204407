"""`--gpu` (run-agent and launch-agent): the engine's GPUs pass through with `--gpus all`; an engine
without a GPU runtime is refused with one clean error before anything is created.

The machines this suite runs on have no GPU, so the refusal is what is proven here (the argv with
`--gpus all` is unit-tested); on an engine with a GPU runtime the same test checks the run succeeds.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import assert_clean_error, docker, sessions_under


def engine_has_gpus() -> bool:
    info = json.loads(docker("info", "--format", "{{json .}}").stdout)
    devices = [device.get("ID", "") for device in info.get("DiscoveredDevices") or []]
    return any("nvidia" in name for name in info.get("Runtimes") or {}) or any("gpu" in d for d in devices)


@pytest.mark.parametrize("command", ["launch-agent", "run-agent"])
def test_gpu_on_an_engine_without_a_gpu_runtime_is_refused_and_creates_nothing(cli, repo, command):
    result = cli(command, "shell", str(repo), "--gpu", "--network-proxy", "restricted", "--prompt", "true")

    if engine_has_gpus():
        assert result.returncode == 0, result.output
        return
    assert result.returncode == 1, result.output
    assert_clean_error(result, "--gpu: the Docker engine has no GPU runtime")
    assert "NVIDIA Container Toolkit" in result.stderr
    assert sessions_under(repo) == (set(), set())

