// An Azure Monitor workbook for operators: signatures per hour, outcomes by reason and
// latency from the function's logs, and Event Grid delivery and dead-letter metrics for
// this environment's subscription. The content is infra/monitoring/signer-workbook.json,
// with the resource ids filled in here.

param location string
param tags object = {}
param displayName string

@description('Resource id of the environment\'s Application Insights component.')
param applicationInsightsId string

@description('Resource id of the registry\'s Event Grid system topic.')
param systemTopicId string

@description('This environment\'s event subscription on that topic.')
param eventSubscriptionName string

// One placeholder per step; __EVENT_SUBSCRIPTION_UPPER__ before its prefix __EVENT_SUBSCRIPTION__.
var template = loadTextContent('../monitoring/signer-workbook.json')
var withInsights = replace(template, '__APPLICATION_INSIGHTS_ID__', applicationInsightsId)
var withTopic = replace(withInsights, '__SYSTEM_TOPIC_ID__', systemTopicId)
var withUpper = replace(withTopic, '__EVENT_SUBSCRIPTION_UPPER__', toUpper(eventSubscriptionName))
var content = replace(withUpper, '__EVENT_SUBSCRIPTION__', eventSubscriptionName)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID; one per resource group (environment).
  name: guid(resourceGroup().id, 'acr-notary-signer-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: toLower(applicationInsightsId)
    serializedData: content
  }
}

output id string = workbook.id
