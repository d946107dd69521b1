output "namespace_name" {
  value = azurerm_servicebus_namespace.this.name
}

output "namespace_id" {
  value = azurerm_servicebus_namespace.this.id
}

output "queue_names" {
  value = [for q in azurerm_servicebus_queue.queue : q.name]
}

output "app_queues" {
  description = "Per application: the queues it holds a queue-scoped rule for (not secret)"
  value       = { for app, queues in var.app_permissions : app => sort(keys(queues)) }
}

output "queue_connection_strings" {
  description = "Per \"app/queue\" grant: the connection string of that queue-scoped rule (EntityPath=queue)"
  value       = { for k, r in azurerm_servicebus_queue_authorization_rule.grant : k => r.primary_connection_string }
  sensitive   = true
}

output "keda_connection_strings" {
  description = "Per scaled queue: the queue-scoped Manage connection string for the KEDA scaler"
  value       = { for q, r in azurerm_servicebus_queue_authorization_rule.keda : q => r.primary_connection_string }
  sensitive   = true
}

output "monitor_connection_strings" {
  description = "Per queue: queue-scoped Manage connection string for `diamond check` / `diamond status` (monitor job, operators)"
  value       = { for q, r in azurerm_servicebus_queue_authorization_rule.monitor : q => r.primary_connection_string }
  sensitive   = true
}
