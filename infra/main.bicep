// Event-driven Notary Project signer for Azure Container Registry.
//
// Deployed at subscription scope, like Microsoft's azd Flex Consumption samples:
//   - everything this environment owns goes into its own resource group, rg-<environment>,
//     created here. `azd down` deletes the resource groups a subscription deployment
//     created, so it removes this environment and nothing else;
//   - the registry and the signing vault stay where they are (any resource group of the
//     subscription) and are referenced there. Into their groups go only the signer
//     identity's role assignments and the registry's Event Grid system topic, which every
//     environment on the registry shares and none owns;
//   - the Event Grid subscription is not created here but by the post-deploy hook
//     (infra/hooks/postdeploy.py), once the function it delivers to exists, from the
//     EVENT_SUBSCRIPTION_* outputs below.
// For a demo, createRegistry / createKeyVault create both in rg-<environment> instead.

targetScope = 'subscription'

// ---------------------------------------------------------------------------------
// Parameters: environment
// ---------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Environment name (azd AZURE_ENV_NAME); names the resource group and seeds unique resource names.')
param environmentName string

@description('Region for the resource group, the function app, its storage and monitoring. Must offer Flex Consumption.')
param location string

@description('Resource group for this environment (empty: rg-<environmentName>). It is created here and must hold nothing else: azd down deletes it.')
param resourceGroupName string = ''

@description('Object id of the person deploying (azd AZURE_PRINCIPAL_ID). Used only by the demo registry/vault to let you push images and create the certificate.')
param principalId string = ''

param tags object = {}

// ---------------------------------------------------------------------------------
// Parameters: registry and key vault
// ---------------------------------------------------------------------------------

@description('Name of the container registry whose pushes are signed (not the login server).')
param registryName string

@description('Resource group of the registry (the pre-provision hook finds it when empty; ignored with createRegistry).')
param registryResourceGroupName string = ''

@description('Demo: create the registry in this environment\'s resource group instead of using an existing one.')
param createRegistry bool = false

@description('Name of the key vault that holds the signing certificate (RBAC permission model).')
param keyVaultName string

@description('Resource group of the key vault (the pre-provision hook finds it when empty; ignored with createKeyVault).')
param keyVaultResourceGroupName string = ''

@description('Demo: create the key vault in this environment\'s resource group instead of using an existing one.')
param createKeyVault bool = false

@description('Name of the Key Vault certificate whose key signs (its key has the same name).')
param signingCertificateName string = 'notary-signing'

@description('Pin a key version (empty: always the latest version, which follows certificate renewal).')
param signingKeyVersion string = ''

@description('Where the certificate chain comes from: auto (as notation-azure-kv: a self-signed certificate alone, a CA-issued one with the chain from its secret), certificate (self-signed only), secret (CA-issued, chain imported with the certificate), ca-bundle (leaf from the certificate plus a PEM bundle shipped with the app).')
@allowed([
  'auto'
  'certificate'
  'secret'
  'ca-bundle'
])
param certChainSource string = 'auto'

@description('Path of the PEM bundle (intermediates then root) inside the deployed app, for certChainSource ca-bundle (.funcignore ships certs/ca-bundle.pem).')
param caBundlePath string = ''

@description('Seconds between re-reads of the certificate chain (picks up renewals).')
@minValue(60)
param chainRefreshSeconds int = 3600

@description('RFC 3161 Time-Stamping Authority URL (notation sign --timestamp-url). Empty: signatures are not timestamped and stop verifying when the signing certificate expires.')
param timestampUrl string = ''

@description('Path of the TSA root certificate (PEM) inside the deployed app (notation sign --timestamp-root-cert); used when timestampUrl is set (.funcignore ships certs/tsa-root.pem).')
param timestampRootCertPath string = 'certs/tsa-root.pem'

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

// ---------------------------------------------------------------------------------
// Parameters: events
// ---------------------------------------------------------------------------------

@description('Comma-separated repository prefixes Event Grid delivers (no spaces; at most 25; empty: every repository).')
param eventRepositoryPrefixes string = ''

@description('Name of the registry\'s Event Grid system topic; a registry has at most one (empty: evgt-<registry>). The pre-provision hook fills in the existing one.')
param systemTopicName string = ''

@description('Resource group of the system topic (empty: the registry\'s).')
param systemTopicResourceGroupName string = ''

@description('The existing system topic\'s identities and tags, kept when it is updated: {identityType, userAssignedIdentities, tags}; empty when there is none. The pre-provision hook reads it from what is deployed.')
param existingSystemTopic object = {}

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

@description('Resource group of the outcome topic (required with outcomeTopicName).')
param outcomeTopicResourceGroupName string = ''

// ---------------------------------------------------------------------------------
// Parameters: hosting and operations
// ---------------------------------------------------------------------------------

@description('Flex Consumption instance size in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on instances: Flex Consumption accepts 40 to 1000. Key Vault allows about 4,000 RSA-2048 signs per 10 s per vault; keep the fan-out well below that.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Redundancy of the app\'s storage account.')
param storageSkuName string = 'Standard_LRS'

@description('E-mail address the alerts are sent to (empty: they fire in Azure Monitor without a notification).')
param alertEmail string = ''

// ---------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------

// Everything that lives outside this environment's resource group, or is shared with
// other environments on the same registry, carries this token: nested deployment names,
// the event subscription, the identity names.
var resourceToken = toLower(uniqueString(subscription().id, environmentName))
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var groupName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var deploymentPrefix = 'signer-${resourceToken}'
var functionAppName = 'func-signer-${resourceToken}'
var planName = 'plan-signer-${resourceToken}'
var storageAccountName = 'stsigner${resourceToken}'
var appIdentityName = 'id-signer-${resourceToken}'
var logAnalyticsName = 'log-signer-${resourceToken}'
var applicationInsightsName = 'appi-signer-${resourceToken}'
var deploymentContainerName = 'app-package'
var eventSubscriptionName = 'notary-signer-${resourceToken}'

var registryGroup = createRegistry ? groupName : registryResourceGroupName
var keyVaultGroup = createKeyVault ? groupName : keyVaultResourceGroupName
var topicName = empty(systemTopicName) ? 'evgt-${registryName}' : systemTopicName
var topicGroup = empty(systemTopicResourceGroupName) ? registryGroup : systemTopicResourceGroupName
// Never an empty group name, even for the module that is off without an outcome topic.
var outcomeTopicGroup = empty(outcomeTopicResourceGroupName) ? groupName : outcomeTopicResourceGroupName
var repositoryPrefixes = empty(eventRepositoryPrefixes) ? [] : split(eventRepositoryPrefixes, ',')

// The Event Grid-triggered function in function_app.py.
var eventFunctionName = 'on_image_pushed'

// ---------------------------------------------------------------------------------
// This environment's resource group and identity
// ---------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: groupName
  location: location
  tags: allTags
}

module appIdentity 'modules/app-identity.bicep' = {
  name: '${deploymentPrefix}-identity'
  scope: rg
  params: {
    name: appIdentityName
    location: location
    tags: allTags
  }
}

// ---------------------------------------------------------------------------------
// Demo registry / vault (off by default), in this environment's group
// ---------------------------------------------------------------------------------

module demoRegistry 'modules/demo-registry.bicep' = if (createRegistry) {
  name: '${deploymentPrefix}-demo-registry'
  scope: rg
  params: {
    name: registryName
    location: location
    tags: allTags
    deployerPrincipalId: principalId
  }
}

module demoKeyVault 'modules/demo-keyvault.bicep' = if (createKeyVault) {
  name: '${deploymentPrefix}-demo-keyvault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: allTags
    deployerPrincipalId: principalId
  }
}

// ---------------------------------------------------------------------------------
// Where the registry, the vault and the outcome topic live: role assignments only
// ---------------------------------------------------------------------------------

module registryAccess 'modules/registry-access.bicep' = {
  name: '${deploymentPrefix}-registry-access'
  scope: resourceGroup(registryGroup)
  dependsOn: [
    demoRegistry
  ]
  params: {
    registryName: registryName
    principalId: appIdentity.outputs.principalId
    grantDelete: referrersTagCleanup
    rolesDeploymentName: '${deploymentPrefix}-registry-roles'
  }
}

module keyVaultAccess 'modules/keyvault-access.bicep' = {
  name: '${deploymentPrefix}-keyvault-access'
  scope: resourceGroup(keyVaultGroup)
  dependsOn: [
    demoKeyVault
  ]
  params: {
    keyVaultName: keyVaultName
    principalId: appIdentity.outputs.principalId
  }
}

module outcomeTopicAccess 'modules/outcome-topic-access.bicep' = if (!empty(outcomeTopicName)) {
  name: '${deploymentPrefix}-outcome-topic-access'
  scope: resourceGroup(outcomeTopicGroup)
  params: {
    topicName: outcomeTopicName
    principalId: appIdentity.outputs.principalId
  }
}

// ---------------------------------------------------------------------------------
// The registry's system topic (shared) and its dead-letter identity
// ---------------------------------------------------------------------------------

module events 'modules/system-topic.bicep' = {
  name: '${deploymentPrefix}-system-topic'
  scope: resourceGroup(topicGroup)
  params: {
    systemTopicName: topicName
    existingSystemTopic: existingSystemTopic
    registryId: registryAccess.outputs.id
    location: registryAccess.outputs.location
    tags: tags
    deadLetterIdentityName: take('id-deadletter-${topicName}', 128)
  }
}

// ---------------------------------------------------------------------------------
// Storage, monitoring, the function app, alerts
// ---------------------------------------------------------------------------------

module storage 'modules/storage.bicep' = {
  name: '${deploymentPrefix}-storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    tags: allTags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    ledgerTableName: ledgerTableName
    deadLetterContainerName: deadLetterContainerName
    appPrincipalId: appIdentity.outputs.principalId
    eventsPrincipalId: events.outputs.deadLetterPrincipalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: '${deploymentPrefix}-monitoring'
  scope: rg
  params: {
    location: location
    tags: allTags
    logAnalyticsName: logAnalyticsName
    applicationInsightsName: applicationInsightsName
    appPrincipalId: appIdentity.outputs.principalId
  }
}

// Every setting the function reads, and nothing else (tests/infra/test_bicep.py compares
// this list with shared/setting_names.py). No secrets: storage, Key Vault, the registry,
// App Insights and the outcome topic are all reached with the managed identity. The
// values use the outputs of the storage, vault and registry modules, so the app is
// created only after its role assignments exist.
var appSettings = [
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
    value: appIdentity.outputs.clientId
  }
  // The host's diagnostic events would need table rights on the whole account (the
  // identity may write only the ledger table); they feed only the portal's "Diagnose and
  // solve problems" page, and the same host errors reach Application Insights.
  {
    name: 'AzureWebJobsFeatureFlags'
    value: 'DisableDiagnosticEventLogging'
  }
  // Telemetry with Entra ID (the component has local auth disabled).
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: monitoring.outputs.connectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${appIdentity.outputs.clientId};Authorization=AAD'
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
    name: 'SIGNER_TIMESTAMP_URL'
    value: timestampUrl
  }
  {
    name: 'SIGNER_TIMESTAMP_ROOT_CERT'
    value: empty(timestampUrl) ? '' : timestampRootCertPath
  }
  {
    name: 'SIGNER_MANAGED_IDENTITY_CLIENT_ID'
    value: appIdentity.outputs.clientId
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
  // Audit ledger (and the subject locks, rows of the same table) on the app's storage account.
  {
    name: 'SIGNER_LEDGER_TABLE'
    value: storage.outputs.ledgerTableName
  }
  // Outcome events (empty: off).
  {
    name: 'SIGNER_OUTCOME_TOPIC_ENDPOINT'
    value: outcomeTopicAccess.?outputs.endpoint ?? ''
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

module functionApp 'modules/function-app.bicep' = {
  name: '${deploymentPrefix}-function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: planName
    location: location
    tags: allTags
    identityId: appIdentity.outputs.id
    blobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    appSettings: appSettings
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
}

module alerts 'modules/alerts.bicep' = {
  name: '${deploymentPrefix}-alerts'
  scope: rg
  params: {
    location: location
    tags: allTags
    namePrefix: 'signer-${resourceToken}'
    alertEmail: alertEmail
    systemTopicId: events.outputs.topicId
    eventSubscriptionName: eventSubscriptionName
    applicationInsightsId: monitoring.outputs.id
  }
}

module workbook 'modules/workbook.bicep' = {
  name: '${deploymentPrefix}-workbook'
  scope: rg
  params: {
    location: location
    tags: allTags
    displayName: 'ACR Notary signer (${environmentName})'
    applicationInsightsId: monitoring.outputs.id
    systemTopicId: events.outputs.topicId
    eventSubscriptionName: eventSubscriptionName
  }
}

// ---------------------------------------------------------------------------------
// The Event Grid subscription, created by the post-deploy hook once on_image_pushed
// exists (Event Grid validates an AzureFunction destination against the deployed code):
// the hook PUTs EVENT_SUBSCRIPTION_PROPERTIES at EVENT_SUBSCRIPTION_ID. Its name carries
// this environment's token, so environments on one registry each have their own.
// ---------------------------------------------------------------------------------

var eventSubscriptionProperties = {
  destination: {
    endpointType: 'AzureFunction'
    properties: {
      resourceId: '${functionApp.outputs.id}/functions/${eventFunctionName}'
      // One event per invocation: each push is signed (or skipped) on its own, and a
      // failure retries only that event.
      maxEventsPerBatch: 1
      preferredBatchSizeInKilobytes: 64
    }
  }
  eventDeliverySchema: 'EventGridSchema'
  filter: {
    includedEventTypes: [
      'Microsoft.ContainerRegistry.ImagePushed'
      'Microsoft.ContainerRegistry.ChartPushed'
    ]
    enableAdvancedFilteringOnArrays: true
    // A coarse pre-filter so unrelated repositories cost no invocation. The signer's own
    // include/exclude globs (SIGNER_INCLUDE_REPOSITORIES ...) stay the authority.
    advancedFilters: empty(repositoryPrefixes) ? [] : [
      {
        operatorType: 'StringBeginsWith'
        key: 'data.target.repository'
        values: repositoryPrefixes
      }
    ]
  }
  // Transient failures (registry or vault unavailable, throttling) are retried with
  // back-off; the signer is idempotent, so a repeated delivery signs nothing twice.
  retryPolicy: {
    maxDeliveryAttempts: eventMaxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
  // Whatever cannot be delivered lands in this environment's container, written with the
  // topic's dead-letter identity, for inspection and replay (scripts/replay_dead_letters.py).
  deadLetterWithResourceIdentity: {
    identity: {
      type: 'UserAssigned'
      userAssignedIdentity: events.outputs.deadLetterIdentityId
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: {
        resourceId: storage.outputs.id
        blobContainerName: storage.outputs.deadLetterContainerName
      }
    }
  }
}

// ---------------------------------------------------------------------------------
// Outputs (azd stores them in the environment; the hooks read some)
// ---------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_ID string = functionApp.outputs.id
output IDENTITY_PRINCIPAL_ID string = appIdentity.outputs.principalId
output IDENTITY_CLIENT_ID string = appIdentity.outputs.clientId
output SIGN_ENDPOINT string = 'https://${functionApp.outputs.defaultHostName}/api/sign'
output STATUS_ENDPOINT string = 'https://${functionApp.outputs.defaultHostName}/api/status'
output SIGNER_REGISTRY string = registryAccess.outputs.loginServer
output SIGNER_KEY_VAULT_URI string = keyVaultAccess.outputs.vaultUri
output EVENT_GRID_SYSTEM_TOPIC_ID string = events.outputs.topicId
output EVENT_SUBSCRIPTION_NAME string = eventSubscriptionName
output EVENT_SUBSCRIPTION_ID string = '${events.outputs.topicId}/eventSubscriptions/${eventSubscriptionName}'
output EVENT_SUBSCRIPTION_PROPERTIES object = eventSubscriptionProperties
output EVENT_FUNCTION_NAME string = eventFunctionName
output DEAD_LETTER_CONTAINER string = storage.outputs.deadLetterContainerName
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output ALERT_ACTION_GROUP_ID string = alerts.outputs.actionGroupId
output WORKBOOK_ID string = workbook.outputs.id
// Where this environment's identity holds roles outside its resource group; the pre-down
// hook removes those assignments, which `azd down` would otherwise leave behind.
var outcomeTopicScopes = empty(outcomeTopicName) ? [] : [outcomeTopicAccess.?outputs.id ?? '']
output ROLE_ASSIGNMENT_SCOPES array = concat([registryAccess.outputs.id, keyVaultAccess.outputs.id], outcomeTopicScopes)
