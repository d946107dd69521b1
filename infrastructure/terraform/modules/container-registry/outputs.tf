output "login_server" {
  value = azurerm_container_registry.this.login_server
}

output "registry_id" {
  value = azurerm_container_registry.this.id
}

output "pull_identity_id" {
  description = "User-assigned identity with AcrPull, attached to every app and the job"
  value       = azurerm_user_assigned_identity.pull.id
}
