# `run-agent ARGS` from PowerShell: runs `coding-agents run-agent ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('run-agent') -Arguments $args
exit $LASTEXITCODE
