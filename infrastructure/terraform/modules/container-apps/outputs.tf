output "environment_id" {
  value = azurerm_container_app_environment.this.id
}

output "urls" {
  description = "Per app with external ingress (api, dashboard): its HTTPS URL"
  value       = { for name, app in azurerm_container_app.app : name => "https://${app.ingress[0].fqdn}" if local.apps[name].port != null }
}

output "app_names" {
  value = { for name, app in azurerm_container_app.app : name => app.name }
}

output "job_names" {
  value = { for name, job in azurerm_container_app_job.job : name => job.name }
}

output "api_principal_id" {
  value = azurerm_container_app.app["api"].identity[0].principal_id
}
