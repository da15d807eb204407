# `run-copilot ARGS` from PowerShell: runs `coding-agents run-agent copilot ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('run-agent', 'copilot') -Arguments $args
exit $LASTEXITCODE
