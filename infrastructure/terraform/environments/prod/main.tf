# Production environment: the seed's deployment (resource group diamond-prod-rg), every value as
# the seed states it. Secrets come from TF_VAR_* variables (see variables.tf), never from files.
#   cd infrastructure/terraform/environments/prod
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

  # State in an Azure storage account; its coordinates go in backend.hcl (not committed).
  backend "azurerm" {}
}

provider "azurerm" {
  features {}
}

data "azurerm_client_config" "current" {}

locals {
  name_prefix = "diamond-prod"
  tags = {
    project     = "diamond"
    environment = "prod"
  }
}

resource "azurerm_resource_group" "this" {
  name     = "diamond-prod-rg"
  location = var.location
  tags     = local.tags
}

module "service_bus" {
  source              = "../../modules/service-bus"
  namespace_name      = "diamond-prod-servicebus"
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
  registry_name       = "diamondprodacr"
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
