// Event Grid wiring, deployed into the registry's resource group: a system topic on
// the registry and a subscription that delivers ImagePushed / ChartPushed events to
// the function's Event Grid trigger.
//
// Event Grid validates an AzureFunction destination against the deployed function, so
// the subscription can only be created once the code is published. `azd up` handles this
// with a post-deploy hook that provisions again with deployEventSubscription=true; with
// plain `az`, deploy twice (see docs/deploy.md).

@description('System topic name. A registry can have only one system topic: if yours already has one, pass its name here.')
param systemTopicName string

@description('Name of the existing container registry (the event source).')
param registryName string

@description('Region of the registry: a system topic lives in its source\'s region.')
param location string

param tags object = {}

@description('Resource id of the user-assigned identity Event Grid uses to write dead letters.')
param eventsIdentityId string

@description('Create the subscription (only once the function code is deployed).')
param deployEventSubscription bool

@description('Resource id of the Event Grid-triggered function: <site id>/functions/on_image_pushed.')
param functionResourceId string

@description('Deliver only events whose data.target.repository starts with one of these (empty: all). At most 25.')
@maxLength(25)
param repositoryPrefixes array = []

@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterStorageAccountId string

@description('Blob container for events Event Grid gives up on.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered (Event Grid maximum 30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an event is retried before it is dead-lettered (Event Grid maximum 1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource registry 'Microsoft.ContainerRegistry/registries@2025-11-01' existing = {
  name: registryName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: location
  tags: tags
  // Event Grid writes dead letters with this identity (Storage Blob Data Contributor on
  // the dead-letter container only), so the storage account needs no shared key.
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventsIdentityId}': {}
    }
  }
  properties: {
    source: registry.id
    topicType: 'Microsoft.ContainerRegistry.Registries'
  }
}

// A coarse pre-filter so unrelated repositories cost no invocation. The signer's own
// include/exclude globs (SIGNER_INCLUDE_REPOSITORIES ...) stay the authority.
var repositoryFilters = empty(repositoryPrefixes) ? [] : [
  {
    operatorType: 'StringBeginsWith'
    key: 'data.target.repository'
    values: repositoryPrefixes
  }
]

resource signerSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deployEventSubscription) {
  parent: systemTopic
  name: 'notary-signer'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
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
      advancedFilters: repositoryFilters
    }
    // Transient failures (registry or vault unavailable, throttling) are retried with
    // back-off; the signer is idempotent, so a repeated delivery signs nothing twice.
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    // Whatever cannot be delivered lands in blob storage for inspection and replay
    // (POST /api/sign), instead of being dropped silently.
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventsIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicName string = systemTopic.name
