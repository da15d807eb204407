# `connect-agent ARGS` from PowerShell: runs `coding-agents connect-agent ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('connect-agent') -Arguments $args
exit $LASTEXITCODE
