// The registry's Event Grid system topic and the identity Event Grid dead-letters with,
// deployed into the topic's resource group (normally the registry's). Both are shared by
// every signer environment on the registry and belong to none of them: `azd down` of one
// environment leaves them, and the other environments' subscriptions, in place. Each
// environment adds only its own event subscription (infra/hooks/postdeploy.py) and a role
// for this identity on its own dead-letter container.
//
// A registry has at most one system topic. When it exists already, the pre-provision hook
// (infra/hooks/preprovision.py) reads its identities and tags from what is deployed and
// passes them in existingSystemTopic: the update adds the dead-letter identity to them
// rather than replacing them, so subscriptions that dead-letter with another identity,
// another environment's included, keep working.

@description('Name of the system topic (existing, or to create).')
param systemTopicName string

@description('The existing topic\'s identityType, userAssignedIdentities (lower-case ids, {} values) and tags; empty when there is no topic yet.')
param existingSystemTopic object = {}

@description('Resource id of the registry, the topic\'s source.')
param registryId string

@description('Region of the registry: a system topic lives in its source\'s region.')
param location string

@description('Tags for a topic and identity created here.')
param tags object = {}

@description('Name of the user-assigned identity Event Grid dead-letters with (one per topic).')
param deadLetterIdentityName string

resource deadLetterIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: deadLetterIdentityName
  location: location
  tags: tags
}

var topicExists = !empty(existingSystemTopic)
var existingUserIdentities = existingSystemTopic.?userAssignedIdentities ?? {}
var keepSystemAssigned = contains(existingSystemTopic.?identityType ?? 'None', 'SystemAssigned')

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: location
  tags: topicExists ? (existingSystemTopic.?tags ?? {}) : tags
  identity: {
    type: keepSystemAssigned ? 'SystemAssigned, UserAssigned' : 'UserAssigned'
    userAssignedIdentities: union(existingUserIdentities, {
      '${toLower(deadLetterIdentity.id)}': {}
    })
  }
  properties: {
    source: registryId
    topicType: 'Microsoft.ContainerRegistry.Registries'
  }
}

output topicId string = systemTopic.id
output topicName string = systemTopic.name
output deadLetterIdentityId string = deadLetterIdentity.id
output deadLetterPrincipalId string = deadLetterIdentity.properties.principalId
