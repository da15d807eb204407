# `launch-agent ARGS` from PowerShell: runs `coding-agents launch-agent ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('launch-agent') -Arguments $args
exit $LASTEXITCODE
