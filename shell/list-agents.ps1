# `list-agents ARGS` from PowerShell: runs `coding-agents list-agents ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('list-agents') -Arguments $args
exit $LASTEXITCODE
