# `run-codex ARGS` from PowerShell: runs `coding-agents run-agent codex ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('run-agent', 'codex') -Arguments $args
exit $LASTEXITCODE
