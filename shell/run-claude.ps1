# `run-claude ARGS` from PowerShell: runs `coding-agents run-agent claude ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('run-agent', 'claude') -Arguments $args
exit $LASTEXITCODE
