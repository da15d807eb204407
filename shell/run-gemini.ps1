# `run-gemini ARGS` from PowerShell: runs `coding-agents run-agent gemini ARGS` inside WSL.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
Invoke-CodingAgentsInWsl -Command @('run-agent', 'gemini') -Arguments $args
exit $LASTEXITCODE
