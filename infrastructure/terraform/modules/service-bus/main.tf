# service-bus: the Standard namespace, the three pipeline queues with the seed's settings, and
# least-privilege shared access rules per application.
#
# Service Bus SAS rules are scoped either to one queue or to the whole namespace, and each
# service reads a single AZURE_SERVICE_BUS_CONNECTION_STRING. So every application gets:
#   - one namespace rule carrying only the rights it needs (send and/or listen, never manage):
#     its connection string (output app_connection_strings);
#   - one queue-scoped rule per queue it uses, with exactly the rights the seed's data flow gives
#     it on that queue (output queue_connection_strings), for per-queue credentials;
# KEDA gets one queue-scoped Manage rule per scaled queue (the scaler must read queue runtime
# properties, which needs Manage, and only on that queue), and the monitoring check one
# namespace Manage rule (dead-letter counts of all three queues).

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

  # Union of rights per application for its namespace rule.
  app_rights = {
    for app, queues in var.app_permissions : app => {
      send   = anytrue([for q, rights in queues : contains(rights, "send")])
      listen = anytrue([for q, rights in queues : contains(rights, "listen")])
    }
  }
}

resource "azurerm_servicebus_queue_authorization_rule" "grant" {
  for_each = local.queue_grants
  name     = "${each.value.app}-${each.value.queue}"
  queue_id = azurerm_servicebus_queue.queue[each.value.queue].id
  send     = each.value.send
  listen   = each.value.listen
  manage   = false
}

resource "azurerm_servicebus_namespace_authorization_rule" "app" {
  for_each     = local.app_rights
  name         = "${each.key}-app"
  namespace_id = azurerm_servicebus_namespace.this.id
  send         = each.value.send
  listen       = each.value.listen
  manage       = false
}

# `diamond check` / `diamond status` read queue runtime properties (dead-letter counts), which
# Service Bus grants only with Manage. Used by the hourly monitor job and by operators only.
resource "azurerm_servicebus_namespace_authorization_rule" "monitor" {
  name         = "monitor"
  namespace_id = azurerm_servicebus_namespace.this.id
  send         = true
  listen       = true
  manage       = true
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
