# Shared by the coding-agents PowerShell shims: forward a command into WSL.
# Windows paths (C:\work\repo, \\server\share, or relative paths that exist) become
# WSL paths via `wslpath`, so `run-claude .` works from a PowerShell prompt.
# Set $env:CODING_AGENTS_WSL_DISTRO to pick a distribution, and
# $env:CODING_AGENTS_WSL_BIN if coding-agents is not on the WSL PATH.

function ConvertTo-WslPath([string]$Value) {
    $isWindowsPath = ($Value -match '^[A-Za-z]:[\\/]') -or ($Value -match '^\\\\')
    $isExistingRelative = (-not $Value.StartsWith('-')) -and (-not $isWindowsPath) -and
        ($Value -match '[\\/]' -or $Value -eq '.' -or $Value -eq '..') -and (Test-Path -LiteralPath $Value)
    if (-not ($isWindowsPath -or $isExistingRelative)) { return $Value }
    $full = (Resolve-Path -LiteralPath $Value -ErrorAction SilentlyContinue)
    $windowsPath = if ($full) { $full.ProviderPath } else { $Value }
    $converted = & wsl.exe @(Get-WslDistroArgs) --exec wslpath -a -u ($windowsPath -replace '\\', '/')
    if ($LASTEXITCODE -ne 0 -or -not $converted) { return $Value }
    return $converted.Trim()
}

function Get-WslDistroArgs {
    if ($env:CODING_AGENTS_WSL_DISTRO) { return @('--distribution', $env:CODING_AGENTS_WSL_DISTRO) }
    return @()
}

function Invoke-CodingAgentsInWsl([string[]]$Command, [object[]]$Arguments) {
    if (-not (Get-Command wsl.exe -ErrorAction SilentlyContinue)) {
        Write-Error 'error: wsl.exe not found. hint: install WSL (wsl --install), then coding-agents inside it'
        $global:LASTEXITCODE = 1
        return
    }
    $binary = if ($env:CODING_AGENTS_WSL_BIN) { $env:CODING_AGENTS_WSL_BIN } else { 'coding-agents' }
    $converted = @($Arguments | ForEach-Object { ConvertTo-WslPath ([string]$_) })
    # A login shell gives coding-agents the user's PATH (~/.local/bin) inside WSL.
    & wsl.exe @(Get-WslDistroArgs) --exec bash -lc '"$0" "$@"' $binary @Command @converted
}
