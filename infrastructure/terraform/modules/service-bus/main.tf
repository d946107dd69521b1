# service-bus: the Standard namespace, the three pipeline queues with the seed's settings, and
# least-privilege shared access rules, every one scoped to a single queue (issue 15 item 18).
#
# No application holds a namespace-level rule. Each service reads one connection string per
# queue it uses (AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS / _WORK_DONE / _CONSOLIDATE,
# each carrying EntityPath=<queue>), so:
#   - every application gets one queue-scoped rule per queue it uses, with exactly the rights
#     the pipeline's data flow gives it there (var.app_permissions; output
#     queue_connection_strings, keyed "app/queue");
#   - KEDA gets one queue-scoped Manage rule per scaled queue (the scaler reads queue runtime
#     properties, which needs Manage, and only on that queue); it is a secret of the scale rule,
#     never an environment variable of the container;
#   - the hourly monitor job (`diamond check`: dead-letter counts) gets one queue-scoped Manage
#     rule per queue: reading a queue's counts needs Manage on that queue, nothing more.
# The namespace's own RootManageSharedAccessKey (created by Azure) is given to nobody.

terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 3.110"
    }
  }
}

resource "azurerm_servicebus_namespace" "this" {
  name                = var.namespace_name
  location            = var.location
  resource_group_name = var.resource_group_name
  sku                 = var.sku
  minimum_tls_version = "1.2"
  tags                = var.tags
}

resource "azurerm_servicebus_queue" "queue" {
  for_each     = var.queues
  name         = each.key
  namespace_id = azurerm_servicebus_namespace.this.id

  lock_duration                           = each.value.lock_duration
  max_delivery_count                      = each.value.max_delivery_count
  requires_duplicate_detection            = each.value.duplicate_detection_window != null
  duplicate_detection_history_time_window = each.value.duplicate_detection_window
  default_message_ttl                     = var.default_message_ttl
  dead_lettering_on_message_expiration    = true
}

locals {
  # One entry per (application, queue) grant, e.g. "worker/work-items".
  queue_grants = merge([
    for app, queues in var.app_permissions : {
      for queue, rights in queues : "${app}/${queue}" => {
        app    = app
        queue  = queue
        send   = contains(rights, "send")
        listen = contains(rights, "listen")
      }
    }
  ]...)
}

resource "azurerm_servicebus_queue_authorization_rule" "grant" {
  for_each = local.queue_grants
  name     = "${each.value.app}-${each.value.queue}"
  queue_id = azurerm_servicebus_queue.queue[each.value.queue].id
  send     = each.value.send
  listen   = each.value.listen
  manage   = false
}

# `diamond check` (the monitor job) reads each queue's runtime properties (dead-letter counts),
# which Service Bus grants only with Manage: one rule per queue, none on the namespace.
resource "azurerm_servicebus_queue_authorization_rule" "monitor" {
  for_each = var.queues
  name     = "monitor"
  queue_id = azurerm_servicebus_queue.queue[each.key].id
  # Manage requires listen and send in Service Bus.
  send   = true
  listen = true
  manage = true
}

resource "azurerm_servicebus_queue_authorization_rule" "keda" {
  for_each = toset(var.keda_scaled_queues)
  name     = "keda-${each.key}"
  queue_id = azurerm_servicebus_queue.queue[each.key].id
  # Manage requires listen and send in Service Bus.
  send   = true
  listen = true
  manage = true
}
