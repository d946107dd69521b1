output "summary" {
  description = "What operators look up after an apply (the environment roots' outputs)"
  value = {
    api_url              = module.container_apps.urls["api"]
    dashboard_url        = module.container_apps.urls["dashboard"]
    registry             = module.container_registry.login_server
    scheduler_job_name   = module.container_apps.job_names["scheduler"]
    watermark_sas_expiry = module.storage.sas_expiry
  }
}
