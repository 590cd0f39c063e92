// The Function App on the Flex Consumption plan (Linux, Python 3.11) that runs
// function_app.py: on_image_pushed (Event Grid), POST /api/sign, GET /api/status.

param name string
param planName string
param location string
param tags object = {}

@description('Resource id of the app\'s user-assigned identity.')
param identityId string

@description('Blob endpoint of the app\'s storage account (https://<account>.blob.core.windows.net/).')
param blobEndpoint string

@description('Blob container Flex Consumption reads the deployment package from.')
param deploymentContainerName string

@description('App settings, {name, value} pairs (main.bicep: appSettings).')
param appSettings array

@description('Flex Consumption instance size in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Upper bound on instances (Flex Consumption: 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy is region-dependent and bills always-ready instances; an Event Grid delivery that fails during a zone outage is retried for 24 h and then dead-lettered, not lost.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // Linux.
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:Event Grid delivers to the function over its public endpoint (AzureFunction destination) and CI pipelines call POST /api/sign; both are authenticated with function/system keys.
  // checkov:skip=CKV_AZURE_17:Neither Event Grid nor the HTTP callers present client certificates; the HTTP triggers require a function key.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per event; a minimum instance count would bill idle instances, and Event Grid retries cover a failed instance.
  // checkov:skip=CKV_AZURE_213:Flex Consumption does not use the App Service health check; GET /api/status needs a function key, which a health probe cannot send.
  name: name
  location: location
  // azd finds the app to deploy `signer` to by this tag.
  tags: union(tags, {
    'azd-service-name': 'signer'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // HTTP triggers use function keys and Event Grid uses the system key; no client
    // certificates are presented by either.
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          // Flex Consumption reads the package from this container with the app's
          // identity (Storage Blob Data Owner on the account).
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
