# NOT YET RUN: written for Windows Server 2022 / Windows 11 with Python 3.11,
# WiX Toolset v5 (dotnet tool install -g wix) and the Windows SDK's signtool.
# Never executed: expect to fix small things on the first real run.
#
#   powershell -ExecutionPolicy Bypass -File installers\windows\build.ps1 [-Sign]
#
# 1. the PyInstaller bundle from the shared spec (installers/clinician-console.spec)
# 2. the MSI (installers/windows/clinician-console.wxs), version from pyproject.toml
# 3. with -Sign: Authenticode signatures on the .exe and the .msi, using the
#    certificate in $env:CC_AUTHENTICODE_PFX (password $env:CC_AUTHENTICODE_PASSWORD)
#    or, better, an HSM / Azure Trusted Signing via signtool's /dlib options
# Prints the MSI's size and the build time, like scripts/build-bundle.
param([switch]$Sign)
$ErrorActionPreference = "Stop"
$root = Resolve-Path "$PSScriptRoot\..\.."
Set-Location $root
$t0 = Get-Date

# Single source of the version: pyproject.toml (as the spec and the .deb).
$version = & python -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])"
if ($LASTEXITCODE -ne 0) { throw "cannot read the version from pyproject.toml" }

python -m pip install -e ".[build]"
python -m PyInstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller installers\clinician-console.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
$bundle = Join-Path $root "dist\clinician-console"
& "$bundle\clinician-console.exe" check --json
if ($LASTEXITCODE -ne 0) { throw "the frozen console failed its own check" }

function Invoke-Sign($file) {
  signtool sign /fd SHA256 /td SHA256 /tr http://timestamp.digicert.com `
    /f $env:CC_AUTHENTICODE_PFX /p $env:CC_AUTHENTICODE_PASSWORD $file
  if ($LASTEXITCODE -ne 0) { throw "signtool failed on $file" }
  signtool verify /pa $file
  if ($LASTEXITCODE -ne 0) { throw "signature of $file does not verify" }
}
if ($Sign) { Invoke-Sign "$bundle\clinician-console.exe" }

$msi = Join-Path $root "dist\ClinicianConsole-$version-x64.msi"
wix build installers\windows\clinician-console.wxs -arch x64 `
  -d Version=$version -d BundleDir=$bundle `
  -d IconFile=installers\icons\clinician-console.ico -o $msi
if ($LASTEXITCODE -ne 0) { throw "wix build failed" }
if ($Sign) { Invoke-Sign $msi }

$secs = [int]((Get-Date) - $t0).TotalSeconds
$mib = [int]((Get-Item $msi).Length / 1MB)
Write-Output "build-msi: $msi: $mib MiB, built in $secs s"
