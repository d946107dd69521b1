# Staging environment: the production shape at a fraction of the cost. Differences from prod:
# MAX_SCHEDULER_RECORDS caps every run, and every app that can scales to zero when idle
# (min replicas 0). Secrets come from TF_VAR_* variables.
#   cd infrastructure/terraform/environments/staging
#   terraform init -backend-config=backend.hcl && terraform plan && terraform apply

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 3.110"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.11"
    }
  }

  backend "azurerm" {}
}

provider "azurerm" {
  features {}
}

data "azurerm_client_config" "current" {}

locals {
  name_prefix = "diamond-staging"
  tags = {
    project     = "diamond"
    environment = "staging"
  }
}

resource "azurerm_resource_group" "this" {
  name     = "diamond-staging-rg"
  location = var.location
  tags     = local.tags
}

module "service_bus" {
  source              = "../../modules/service-bus"
  namespace_name      = "diamond-staging-servicebus"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

module "storage" {
  source              = "../../modules/storage"
  account_name        = var.storage_account_name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

module "container_registry" {
  source              = "../../modules/container-registry"
  registry_name       = "diamondstagingacr"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

module "container_apps" {
  source              = "../../modules/container-apps"
  name_prefix         = local.name_prefix
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags

  registry_server  = module.container_registry.login_server
  pull_identity_id = module.container_registry.pull_identity_id
  image_tag        = var.image_tag

  # Least privilege: queue-scoped Service Bus rules and container-scoped SAS tokens only
  # (no namespace rule, no storage account key reaches an app).
  servicebus_namespace                  = module.service_bus.namespace_name
  servicebus_queue_connection_strings   = module.service_bus.queue_connection_strings
  keda_connection_strings               = module.service_bus.keda_connection_strings
  monitor_servicebus_connection_strings = module.service_bus.monitor_connection_strings
  storage_reader_connection_string      = module.storage.reader_connection_string
  storage_writer_connection_string      = module.storage.writer_connection_string
  subscription_id                       = data.azurerm_client_config.current.subscription_id

  database_host     = var.database_host
  database_username = var.database_username
  database_password = var.database_password
  hmac_secrets      = var.hmac_secrets
  nivoda_username   = var.nivoda_username
  nivoda_password   = var.nivoda_password
  resend_api_key    = var.resend_api_key
  alert_email_to    = var.alert_email_to
  alert_email_from  = var.alert_email_from

  # Scale to zero wherever the seed's shape allows it (the first request or message wakes it).
  api = {
    min_replicas = 0
    max_replicas = 3
    cpu          = 0.5
    memory       = "1Gi"
    port         = 3000
  }
  worker = {
    min_replicas             = 0
    max_replicas             = 30
    cpu                      = 0.5
    memory                   = "1Gi"
    queue_name               = "work-items"
    message_count            = "10"
    activation_message_count = "0"
  }
  consolidator = {
    min_replicas             = 0
    max_replicas             = 3
    cpu                      = 1.0
    memory                   = "2Gi"
    queue_name               = "consolidate"
    message_count            = "1"
    activation_message_count = "0"
  }
  dashboard = {
    min_replicas = 0
    max_replicas = 2
    cpu          = 0.25
    memory       = "0.5Gi"
    port         = 80
  }
  scheduler = {
    cron_expression = "0 2 * * *"
    cpu             = 0.5
    memory          = "1Gi"
    timeout_seconds = 1800
    retry_limit     = 1
    max_records     = var.max_scheduler_records
  }
}

output "api_url" {
  value = module.container_apps.api_url
}

output "dashboard_url" {
  value = module.container_apps.dashboard_url
}

output "registry" {
  value = module.container_registry.login_server
}

output "scheduler_job_name" {
  value = module.container_apps.scheduler_job_name
}

output "watermark_sas_expiry" {
  description = "When the apps' container SAS tokens end (an apply 90 days after their issue renews them)"
  value       = module.storage.sas_expiry
}
