# root.tf: what every environment's root module has in common, kept once and linked into each
# environment directory (environments/<env>/root.tf -> ../common/root.tf): the Terraform and
# provider requirements, the remote state backend, the operator's inputs (TF_VAR_*: secrets and
# per-deployment settings), the call of modules/environment with the environment's own values
# (local.environment, set in that directory's main.tf), and the outputs.
# Run Terraform in environments/prod or environments/staging, never in this directory.

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

module "environment" {
  source                = "../../modules/environment"
  name                  = local.environment.name
  location              = var.location
  storage_account_name  = coalesce(var.storage_account_name, local.environment.storage_account_name)
  image_tag             = var.image_tag
  overrides             = try(local.environment.overrides, null)
  max_scheduler_records = try(local.environment.max_scheduler_records, null)

  config = {
    database_host     = var.database_host
    database_username = var.database_username
    alert_email_to    = var.alert_email_to
    alert_email_from  = var.alert_email_from
  }

  secrets = {
    database_password = var.database_password
    hmac_secrets      = var.hmac_secrets
    nivoda_username   = var.nivoda_username
    nivoda_password   = var.nivoda_password
    resend_api_key    = var.resend_api_key
  }
}

# ---- the operator's inputs (TF_VAR_<name>); secrets never come from files ------------------

variable "location" {
  type    = string
  default = "eastus"
}

variable "storage_account_name" {
  description = "Globally unique storage account name for the watermark (default: the environment's, e.g. diamondprodwatermarks)"
  type        = string
  default     = null
}

variable "image_tag" {
  description = "Image tag the apps run (deploy.yml moves them to the commit SHA)"
  type        = string
  default     = "latest"
}

variable "database_host" {
  description = "PostgreSQL host (seed: aws-0-us-east-1.pooler.supabase.com)"
  type        = string
  default     = "aws-0-us-east-1.pooler.supabase.com"
}

variable "database_username" {
  type = string
}

variable "alert_email_to" {
  description = "ALERT_EMAIL_TO (default: the seed's alerts@example.com)"
  type        = string
  default     = null
}

variable "alert_email_from" {
  description = "ALERT_EMAIL_FROM (default: the seed's noreply@example.com)"
  type        = string
  default     = null
}

variable "database_password" {
  type      = string
  sensitive = true
}

variable "hmac_secrets" {
  description = "HMAC_SECRETS: JSON object client id -> secret, or -> {secret, permissions}"
  type        = string
  sensitive   = true
}

variable "nivoda_username" {
  type      = string
  sensitive = true
}

variable "nivoda_password" {
  type      = string
  sensitive = true
}

variable "resend_api_key" {
  type      = string
  sensitive = true
}

# ---- outputs ------------------------------------------------------------------------------

output "api_url" {
  value = module.environment.summary.api_url
}

output "dashboard_url" {
  value = module.environment.summary.dashboard_url
}

output "registry" {
  value = module.environment.summary.registry
}

output "scheduler_job_name" {
  value = module.environment.summary.scheduler_job_name
}

output "watermark_sas_expiry" {
  description = "When the apps' container SAS tokens end (an apply 90 days after their issue renews them)"
  value       = module.environment.summary.watermark_sas_expiry
}

# ---- state addresses before modules/environment: moved, not replaced -----------------------

moved {
  from = azurerm_resource_group.this
  to   = module.environment.azurerm_resource_group.this
}
moved {
  from = module.service_bus
  to   = module.environment.module.service_bus
}
moved {
  from = module.storage
  to   = module.environment.module.storage
}
moved {
  from = module.container_registry
  to   = module.environment.module.container_registry
}
moved {
  from = module.container_apps
  to   = module.environment.module.container_apps
}
