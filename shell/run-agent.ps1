# The one PowerShell shim, forwarding into WSL. It reads its own file name (build_zipapp.py copies it
# under every shim name into dist\shell\):
#   run-agent.ps1 ARGS     runs  coding-agents run-agent ARGS
#   run-NAME.ps1 ARGS      runs  coding-agents run-agent NAME ARGS   (any agent: copy it as run-NAME.ps1)
#   launch-agent.ps1 ARGS  runs  coding-agents launch-agent ARGS     (connect-agent, list-agents, remove-agent too)
# The same rule as agents/cli.py: shim_prefix.
. (Join-Path $PSScriptRoot '_coding-agents-wsl.ps1')
$name = [IO.Path]::GetFileNameWithoutExtension($PSCommandPath)
if ($name -in @('run-agent', 'launch-agent', 'connect-agent', 'list-agents', 'remove-agent')) {
    $words = @($name)
} elseif ($name -cmatch '^run-([a-z0-9][a-z0-9_-]*)$') {
    $words = @('run-agent', $Matches[1])
} else {
    Write-Error "error: this coding-agents shim was started as $name, which names no command. hint: name it run-agent.ps1, run-NAME.ps1 (an agent), launch-agent.ps1, connect-agent.ps1, list-agents.ps1 or remove-agent.ps1"
    exit 2
}
Invoke-CodingAgentsInWsl -Command $words -Arguments $args
exit $LASTEXITCODE
