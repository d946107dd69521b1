output "environment_id" {
  value = azurerm_container_app_environment.this.id
}

output "log_analytics_workspace_id" {
  value = azurerm_log_analytics_workspace.this.id
}

output "api_url" {
  value = "https://${azurerm_container_app.api.ingress[0].fqdn}"
}

output "dashboard_url" {
  value = "https://${azurerm_container_app.dashboard.ingress[0].fqdn}"
}

output "app_names" {
  value = {
    api          = azurerm_container_app.api.name
    worker       = azurerm_container_app.worker.name
    consolidator = azurerm_container_app.consolidator.name
    dashboard    = azurerm_container_app.dashboard.name
  }
}

output "scheduler_job_name" {
  value = azurerm_container_app_job.scheduler.name
}

output "api_principal_id" {
  value = azurerm_container_app.api.identity[0].principal_id
}

output "monitor_job_name" {
  value = var.monitor.enabled ? azurerm_container_app_job.monitor[0].name : null
}
