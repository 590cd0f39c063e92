// Alerts that reach an operator, routed to one action group:
//   - events Event Grid dead-lettered for this environment's subscription (after 24 h of
//     retries, or at once for a 400) and events it dropped (dead letter not writable);
//   - signing failures in the function's logs (infra/monitoring/signing-failures.kql).
// Metric names and dimensions: Microsoft.EventGrid/systemTopics supported metrics.

param location string
param tags object = {}

@description('Prefix of the alert names (unique per environment).')
param namePrefix string

@description('E-mail address notified when an alert fires (empty: alerts show in Azure Monitor only).')
param alertEmail string

@description('Resource id of the registry\'s Event Grid system topic.')
param systemTopicId string

@description('This environment\'s event subscription on that topic.')
param eventSubscriptionName string

@description('Resource id of the environment\'s Application Insights component.')
param applicationInsightsId string

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'acrsigner'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// The metrics are the topic's, one series per subscription: filter on this one. Both
// spellings are listed because Event Grid reports subscription names in capitals.
var subscriptionFilter = [
  {
    name: 'EventSubscriptionName'
    operator: 'Include'
    values: union([eventSubscriptionName], [toUpper(eventSubscriptionName)])
  }
]

resource deadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dead-lettered push events for the signer: they are unsigned until replayed (docs/deploy.md, "Replaying dead-lettered events").'
    severity: 1
    enabled: true
    scopes: [
      systemTopicId
    ]
    targetResourceType: 'Microsoft.EventGrid/systemTopics'
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          dimensions: subscriptionFilter
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource dropped 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-dropped'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dropped push events for the signer (the dead-letter container was not writable): they are lost; re-sign the affected images with POST /api/sign.'
    severity: 0
    enabled: true
    scopes: [
      systemTopicId
    ]
    targetResourceType: 'Microsoft.EventGrid/systemTopics'
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'Dropped'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DroppedEventCount'
          dimensions: subscriptionFilter
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource signingFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-signing-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Signer: signing failures'
    description: 'The signer logged a failed outcome or a function invocation failed. The workbook\'s "Outcomes by reason" shows which; transient failures are retried by Event Grid.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../monitoring/signing-failures.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
