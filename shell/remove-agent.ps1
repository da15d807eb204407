# `remove-agent ARGS` from PowerShell: runs `coding-agents remove-agent ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('remove-agent') -Arguments $args
exit $LASTEXITCODE
