// Event-driven Notary Project signer for Azure Container Registry.
//
// Deploys into an existing resource group, against an existing container registry and
// key vault (either may live in another resource group of the same subscription):
//   - a Function App on the Flex Consumption plan (Linux, Python 3.11) running the
//     signer, with a user-assigned managed identity and identity-based storage;
//   - its storage account (host state, deployment package, audit ledger table, lease
//     and dead-letter containers) and Application Insights;
//   - least-privilege role assignments on the vault, the registry, the storage account
//     and (optionally) an outcome Event Grid topic;
//   - an Event Grid system topic on the registry and a subscription delivering
//     ImagePushed / ChartPushed to the function (second pass, see deployEventSubscription).
// For a demo, createRegistry / createKeyVault create both instead.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------
// Parameters: environment
// ---------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Environment name (azd AZURE_ENV_NAME); seeds unique resource names.')
param environmentName string

@description('Region for the function app, its storage and monitoring. Must offer Flex Consumption.')
param location string = resourceGroup().location

@description('Object id of the person deploying (azd AZURE_PRINCIPAL_ID). Used only by the demo registry/vault to let you push images and create the certificate.')
param principalId string = ''

param tags object = {}

// ---------------------------------------------------------------------------------
// Parameters: registry and key vault
// ---------------------------------------------------------------------------------

@description('Name of the container registry whose pushes are signed (not the login server).')
param registryName string

@description('Resource group of the registry (empty: this resource group).')
param registryResourceGroupName string = ''

@description('Demo: create the registry in this resource group instead of using an existing one.')
param createRegistry bool = false

@description('True when the registry uses "RBAC Registry + ABAC Repository Permissions" mode: grants Container Registry Repository Writer instead of AcrPush.')
param registryUsesRepositoryPermissions bool = false

@description('Name of the key vault that holds the signing certificate (RBAC permission model).')
param keyVaultName string

@description('Resource group of the key vault (empty: this resource group).')
param keyVaultResourceGroupName string = ''

@description('Demo: create the key vault in this resource group instead of using an existing one.')
param createKeyVault bool = false

@description('Name of the Key Vault certificate whose key signs (its key has the same name).')
param signingCertificateName string = 'notary-signing'

@description('Pin a key version (empty: always the latest version, which follows certificate renewal).')
param signingKeyVersion string = ''

@description('Where the certificate chain comes from: certificate (self-signed), secret (CA-issued, chain imported with the certificate), ca-bundle (leaf from the certificate plus a PEM bundle shipped with the app).')
@allowed([
  'certificate'
  'secret'
  'ca-bundle'
])
param certChainSource string = 'certificate'

@description('Path of the PEM bundle (intermediates then root) inside the deployed app, for certChainSource ca-bundle.')
param caBundlePath string = ''

@description('Seconds between re-reads of the certificate chain (picks up renewals).')
@minValue(60)
param chainRefreshSeconds int = 3600

// ---------------------------------------------------------------------------------
// Parameters: what gets signed, and how
// ---------------------------------------------------------------------------------

@description('Comma-separated repository globs to sign.')
param includeRepositories string = '*'

@description('Comma-separated repository globs never to sign.')
param excludeRepositories string = ''

@description('Comma-separated tag globs to sign.')
param includeTags string = '*'

@description('Comma-separated tag globs never to sign.')
param excludeTags string = ''

@description('Also sign manifests pushed without a tag.')
param signUntagged bool = false

@description('Also sign each child manifest of a pushed image index.')
param signIndexChildren bool = false

@description('Signature expiry as a duration, e.g. 8760h (empty: signatures do not expire).')
param signatureExpiry string = ''

@description('User metadata added to every signature payload, k=v,k2=v2.')
param userMetadata string = ''

@description('Delete superseded referrers tag-schema indexes. Only then does the identity get delete rights on the registry.')
param referrersTagCleanup bool = false

@description('Timeout of each registry / Key Vault HTTP call, in seconds.')
@minValue(1)
param httpTimeoutSeconds int = 10

@description('Audit ledger table name.')
param ledgerTableName string = 'signingledger'

@description('Blob container for the signer\'s per-digest leases.')
param leaseContainerName string = 'signer-leases'

// ---------------------------------------------------------------------------------
// Parameters: events
// ---------------------------------------------------------------------------------

@description('Create the Event Grid subscription. Event Grid checks that the function exists, so the first deployment runs without it and a second one (azd: the post-deploy hook) turns it on.')
param deployEventSubscription bool = false

@description('Comma-separated repository prefixes Event Grid delivers (no spaces; at most 25; empty: every repository).')
param eventRepositoryPrefixes string = ''

@description('Name of the registry\'s Event Grid system topic (a registry has at most one: reuse yours if it exists).')
param systemTopicName string = ''

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param eventMaxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event before dead-lettering it.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Blob container for dead-lettered events.')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Existing Event Grid custom topic to publish signing outcomes to (empty: off).')
param outcomeTopicName string = ''

@description('Resource group of the outcome topic (empty: this resource group).')
param outcomeTopicResourceGroupName string = ''

// ---------------------------------------------------------------------------------
// Parameters: hosting
// ---------------------------------------------------------------------------------

@description('Flex Consumption instance size in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances. Key Vault allows about 4,000 RSA-2048 signs per 10 s per vault; keep the fan-out well below that.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Redundancy of the app\'s storage account.')
param storageSkuName string = 'Standard_LRS'

// ---------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var functionAppName = 'func-signer-${resourceToken}'
var planName = 'plan-signer-${resourceToken}'
var storageAccountName = 'stsigner${resourceToken}'
var appIdentityName = 'id-signer-${resourceToken}'
var eventsIdentityName = 'id-signer-events-${resourceToken}'
var logAnalyticsName = 'log-signer-${resourceToken}'
var applicationInsightsName = 'appi-signer-${resourceToken}'
var deploymentContainerName = 'app-package'
var effectiveSystemTopicName = empty(systemTopicName) ? 'evgt-${registryName}' : systemTopicName

// An existing registry / vault may live elsewhere; a demo one lives here.
var registryGroup = createRegistry || empty(registryResourceGroupName) ? resourceGroup().name : registryResourceGroupName
var keyVaultGroup = createKeyVault || empty(keyVaultResourceGroupName) ? resourceGroup().name : keyVaultResourceGroupName
var outcomeTopicGroup = empty(outcomeTopicResourceGroupName) ? resourceGroup().name : outcomeTopicResourceGroupName
var repositoryPrefixes = empty(eventRepositoryPrefixes) ? [] : split(eventRepositoryPrefixes, ',')

// The Event Grid-triggered function in function_app.py.
var eventFunctionName = 'on_image_pushed'

// ---------------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------------

// The app's identity: one principal for storage, Key Vault, the registry and App
// Insights. User-assigned so that role assignments exist before the app first starts.
resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: allTags
}

// Event Grid's identity, used only to write dead letters.
resource eventsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: eventsIdentityName
  location: location
  tags: allTags
}

// ---------------------------------------------------------------------------------
// Demo registry / vault (off by default)
// ---------------------------------------------------------------------------------

module demoRegistry 'modules/demo-registry.bicep' = if (createRegistry) {
  name: 'signer-demo-registry'
  params: {
    name: registryName
    location: location
    tags: allTags
    deployerPrincipalId: principalId
  }
}

module demoKeyVault 'modules/demo-keyvault.bicep' = if (createKeyVault) {
  name: 'signer-demo-keyvault'
  params: {
    name: keyVaultName
    location: location
    tags: allTags
    deployerPrincipalId: principalId
  }
}

// ---------------------------------------------------------------------------------
// Storage, monitoring, access
// ---------------------------------------------------------------------------------

module storage 'modules/storage.bicep' = {
  name: 'signer-storage'
  params: {
    name: storageAccountName
    location: location
    tags: allTags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    leaseContainerName: leaseContainerName
    ledgerTableName: ledgerTableName
    deadLetterContainerName: deadLetterContainerName
    appPrincipalId: appIdentity.properties.principalId
    eventsPrincipalId: eventsIdentity.properties.principalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'signer-monitoring'
  params: {
    location: location
    tags: allTags
    logAnalyticsName: logAnalyticsName
    applicationInsightsName: applicationInsightsName
    appPrincipalId: appIdentity.properties.principalId
  }
}

module keyVaultAccess 'modules/keyvault-access.bicep' = {
  name: 'signer-keyvault-access'
  scope: resourceGroup(keyVaultGroup)
  dependsOn: [
    demoKeyVault
  ]
  params: {
    keyVaultName: keyVaultName
    principalId: appIdentity.properties.principalId
    grantSecretsUser: certChainSource == 'secret'
  }
}

module registryAccess 'modules/registry-access.bicep' = {
  name: 'signer-registry-access'
  scope: resourceGroup(registryGroup)
  dependsOn: [
    demoRegistry
  ]
  params: {
    registryName: registryName
    principalId: appIdentity.properties.principalId
    usesRepositoryPermissions: registryUsesRepositoryPermissions
    grantDelete: referrersTagCleanup
  }
}

module outcomeTopicAccess 'modules/outcome-topic-access.bicep' = if (!empty(outcomeTopicName)) {
  name: 'signer-outcome-topic-access'
  scope: resourceGroup(outcomeTopicGroup)
  params: {
    topicName: outcomeTopicName
    principalId: appIdentity.properties.principalId
  }
}

// ---------------------------------------------------------------------------------
// Function App (Flex Consumption, Linux, Python 3.11)
// ---------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy is region-dependent and bills always-ready instances; an Event Grid delivery that fails during a zone outage is retried for 24 h and then dead-lettered, not lost.
  name: planName
  location: location
  tags: allTags
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

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:Event Grid delivers to the function over its public endpoint (AzureFunction destination) and CI pipelines call POST /api/sign; both are authenticated with function/system keys.
  // checkov:skip=CKV_AZURE_17:Neither Event Grid nor the HTTP callers present client certificates; the HTTP triggers require a function key.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per event; a minimum instance count would bill idle instances, and Event Grid retries cover a failed instance.
  // checkov:skip=CKV_AZURE_213:Flex Consumption does not use the App Service health check; GET /api/status needs a function key, which a health probe cannot send.
  name: functionAppName
  location: location
  // azd finds the app to deploy `signer` to by this tag.
  tags: union(allTags, {
    'azd-service-name': 'signer'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${appIdentity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    // The settings below use outputs of the storage, vault and registry modules, so
    // the app is created only after its role assignments exist.
    httpsOnly: true
    // HTTP triggers use function keys and Event Grid uses the system key; no client
    // certificates are presented by either.
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Every setting the function reads, and nothing else (tests/infra/test_bicep.py
      // compares this list with shared/setting_names.py). No secrets: storage, Key
      // Vault, the registry, App Insights and the outcome topic are all reached with
      // the managed identity.
      appSettings: [
        // Host storage, identity-based (no connection string, no account key).
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.outputs.name
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: appIdentity.properties.clientId
        }
        // Telemetry with Entra ID (the component has local auth disabled).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: monitoring.outputs.connectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${appIdentity.properties.clientId};Authorization=AAD'
        }
        // Registry.
        {
          name: 'SIGNER_REGISTRY'
          value: registryAccess.outputs.loginServer
        }
        {
          name: 'SIGNER_REGISTRY_AUTH'
          value: 'entra'
        }
        // What to sign.
        {
          name: 'SIGNER_INCLUDE_REPOSITORIES'
          value: includeRepositories
        }
        {
          name: 'SIGNER_EXCLUDE_REPOSITORIES'
          value: excludeRepositories
        }
        {
          name: 'SIGNER_INCLUDE_TAGS'
          value: includeTags
        }
        {
          name: 'SIGNER_EXCLUDE_TAGS'
          value: excludeTags
        }
        {
          name: 'SIGNER_SIGN_UNTAGGED'
          value: signUntagged ? 'true' : 'false'
        }
        {
          name: 'SIGNER_SIGN_INDEX_CHILDREN'
          value: signIndexChildren ? 'true' : 'false'
        }
        // Signing key and certificate chain.
        {
          name: 'SIGNER_KEY_ID'
          value: empty(signingKeyVersion) ? '${keyVaultAccess.outputs.vaultUri}keys/${signingCertificateName}' : '${keyVaultAccess.outputs.vaultUri}keys/${signingCertificateName}/${signingKeyVersion}'
        }
        {
          name: 'SIGNER_CERT_CHAIN_SOURCE'
          value: certChainSource
        }
        {
          name: 'SIGNER_CA_BUNDLE'
          value: certChainSource == 'ca-bundle' ? caBundlePath : ''
        }
        {
          name: 'SIGNER_CHAIN_REFRESH_SECONDS'
          value: string(chainRefreshSeconds)
        }
        {
          name: 'SIGNER_MANAGED_IDENTITY_CLIENT_ID'
          value: appIdentity.properties.clientId
        }
        // Signature content.
        {
          name: 'SIGNER_EXPIRY'
          value: signatureExpiry
        }
        {
          name: 'SIGNER_USER_METADATA'
          value: userMetadata
        }
        // Audit ledger and leases on the app's storage account.
        {
          name: 'SIGNER_LEDGER_TABLE'
          value: storage.outputs.ledgerTableName
        }
        {
          name: 'SIGNER_LEASE_CONTAINER'
          value: storage.outputs.leaseContainerName
        }
        // Outcome events (empty: off).
        {
          name: 'SIGNER_OUTCOME_TOPIC_ENDPOINT'
          value: empty(outcomeTopicName) ? '' : outcomeTopicAccess.outputs.endpoint
        }
        {
          name: 'SIGNER_REFERRERS_TAG_CLEANUP'
          value: referrersTagCleanup ? 'true' : 'false'
        }
        {
          name: 'SIGNER_HTTP_TIMEOUT_SECONDS'
          value: string(httpTimeoutSeconds)
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          // Flex Consumption reads the package from this container with the app's
          // identity (Storage Blob Data Owner on the account).
          type: 'blobContainer'
          value: '${storage.outputs.blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: appIdentity.id
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

// ---------------------------------------------------------------------------------
// Event Grid: system topic on the registry, subscription to the function
// ---------------------------------------------------------------------------------

module registryEvents 'modules/registry-events.bicep' = {
  name: 'signer-registry-events'
  scope: resourceGroup(registryGroup)
  params: {
    systemTopicName: effectiveSystemTopicName
    registryName: registryName
    location: registryAccess.outputs.location
    tags: allTags
    eventsIdentityId: eventsIdentity.id
    deployEventSubscription: deployEventSubscription
    functionResourceId: '${functionApp.id}/functions/${eventFunctionName}'
    repositoryPrefixes: repositoryPrefixes
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    maxDeliveryAttempts: eventMaxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
}

// ---------------------------------------------------------------------------------
// Outputs (azd stores them in the environment; the post-deploy hook reads some)
// ---------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output FUNCTION_APP_NAME string = functionApp.name
output IDENTITY_PRINCIPAL_ID string = appIdentity.properties.principalId
output IDENTITY_CLIENT_ID string = appIdentity.properties.clientId
output SIGN_ENDPOINT string = 'https://${functionApp.properties.defaultHostName}/api/sign'
output STATUS_ENDPOINT string = 'https://${functionApp.properties.defaultHostName}/api/status'
output SIGNER_REGISTRY string = registryAccess.outputs.loginServer
output SIGNER_KEY_VAULT_URI string = keyVaultAccess.outputs.vaultUri
output EVENT_GRID_SYSTEM_TOPIC string = registryEvents.outputs.systemTopicName
output EVENT_SUBSCRIPTION_DEPLOYED bool = deployEventSubscription
output DEAD_LETTER_CONTAINER string = storage.outputs.deadLetterContainerName
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
