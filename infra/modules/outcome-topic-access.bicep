// Optional: the signer publishes its outcomes (signed / skipped / failed) to an
// existing Event Grid custom topic. Its identity needs EventGrid Data Sender on that
// topic only; the topic's endpoint becomes SIGNER_OUTCOME_TOPIC_ENDPOINT.

@description('Name of the existing Event Grid custom topic.')
param topicName string

@description('Principal id of the function app\'s user-assigned identity.')
param principalId string

var roles = {
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender
}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: topicName
}

resource dataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, principalId, roles.eventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = topic.properties.endpoint
output id string = topic.id
