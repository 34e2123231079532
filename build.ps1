# FastSelfReward's entry point for PowerShell (pwsh on Linux, macOS or Windows); build.sh is the
# reference and the one CI runs. Installing packages is left to the platform's package manager:
# this script says what is missing and stops.
#   ./build.ps1            build the native library and the solution (Release)
#   ./build.ps1 test       build, then run every test; prints "N passed, N failed"
#   ./build.ps1 demo [..]  build, then run the demo (arguments are passed on)
param([string]$Command = "build", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest = @())
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$root = $PSScriptRoot

function Require([string]$tool, [string]$hint) {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) {
        Write-Error "build.ps1: $tool is missing; $hint"
        exit 1
    }
}

function Build {
    Require dotnet "install the .NET 10 SDK"
    Require cmake "install CMake 3.18 or newer"
    cmake -S native -B build/native-cmake -DCMAKE_BUILD_TYPE=Release "-DFSR_OUTPUT_DIR=$root/build/native" | Out-Null
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    cmake --build build/native-cmake --config Release
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    dotnet build FastSelfReward.sln -c Release -nologo -v:q -clp:ErrorsOnly
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

function Test {
    $results = Join-Path $root "build/test-results"
    if (Test-Path $results) { Remove-Item -Recurse -Force $results }
    dotnet test FastSelfReward.sln -c Release --no-build -nologo -v:q `
        --logger "trx;LogFileName=tests.trx" --logger "console;verbosity=normal" --results-directory $results @Rest
    $rc = $LASTEXITCODE
    $trx = Get-ChildItem -Recurse -Filter *.trx $results -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($null -eq $trx) { Write-Output "0 passed, 1 failed (no test results were written)"; exit 1 }
    $counters = ([xml](Get-Content $trx.FullName)).TestRun.ResultSummary.Counters
    Write-Output "$($counters.passed) passed, $($counters.failed) failed"
    exit $rc
}

switch ($Command) {
    "build" { Build }
    "test" { Build; Test }
    "demo" { Build; dotnet src/FastSelfReward.Cli/bin/Release/net10.0/linux-x64/fsr.dll demo @Rest; exit $LASTEXITCODE }
    default { Write-Error "usage: ./build.ps1 [build|test|demo]"; exit 2 }
}
