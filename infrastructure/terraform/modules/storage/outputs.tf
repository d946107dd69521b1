output "account_name" {
  value = azurerm_storage_account.this.name
}

output "account_id" {
  value = azurerm_storage_account.this.id
}

output "container_name" {
  value = azurerm_storage_container.watermarks.name
}

output "connection_string" {
  description = "AZURE_STORAGE_CONNECTION_STRING for the services"
  value       = azurerm_storage_account.this.primary_connection_string
  sensitive   = true
}
