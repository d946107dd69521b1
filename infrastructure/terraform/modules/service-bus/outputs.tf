output "namespace_name" {
  value = azurerm_servicebus_namespace.this.name
}

output "namespace_id" {
  value = azurerm_servicebus_namespace.this.id
}

output "queue_names" {
  value = [for q in azurerm_servicebus_queue.queue : q.name]
}

output "app_connection_strings" {
  description = "Per application: the connection string of its namespace rule (send/listen only)"
  value       = { for app, r in azurerm_servicebus_namespace_authorization_rule.app : app => r.primary_connection_string }
  sensitive   = true
}

output "queue_connection_strings" {
  description = "Per \"app/queue\" grant: a connection string scoped to that queue"
  value       = { for k, r in azurerm_servicebus_queue_authorization_rule.grant : k => r.primary_connection_string }
  sensitive   = true
}

output "keda_connection_strings" {
  description = "Per scaled queue: the queue-scoped Manage connection string for the KEDA scaler"
  value       = { for q, r in azurerm_servicebus_queue_authorization_rule.keda : q => r.primary_connection_string }
  sensitive   = true
}

output "monitor_connection_string" {
  description = "Manage connection string for `diamond check` / `diamond status` (monitor job, operators)"
  value       = azurerm_servicebus_namespace_authorization_rule.monitor.primary_connection_string
  sensitive   = true
}
