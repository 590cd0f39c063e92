# azd post-deploy hook (Windows): see postdeploy.sh for why this exists.
$ErrorActionPreference = 'Stop'

if ($env:SIGNER_DEPLOY_EVENT_SUBSCRIPTION -eq 'true') {
    Write-Host 'Event Grid subscription already enabled; nothing to do.'
    exit 0
}

azd env set SIGNER_DEPLOY_EVENT_SUBSCRIPTION true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

for ($attempt = 1; $attempt -le 3; $attempt++) {
    azd provision --no-prompt
    if ($LASTEXITCODE -eq 0) { exit 0 }
    if ($attempt -lt 3) {
        Write-Warning 'Retrying in 60 s (the function may not be indexed yet)...'
        Start-Sleep -Seconds 60
    }
}
Write-Error "Creating the Event Grid subscription failed; run 'azd provision' again in a minute."
exit 1
