# `coding-agents ARGS` from PowerShell: runs coding-agents inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @() -Arguments $args
exit $LASTEXITCODE
