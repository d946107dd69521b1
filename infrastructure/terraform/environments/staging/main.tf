# Staging environment: the production shape at a fraction of the cost. Differences from prod:
# MAX_SCHEDULER_RECORDS caps every run, and every app scales to zero when idle (min replicas 0;
# the first request or message wakes it). The rest is root.tf, a link to ../common/root.tf.
# Secrets come from TF_VAR_* variables.
#   cd infrastructure/terraform/environments/staging
#   terraform init -backend-config=backend.hcl && terraform plan && terraform apply

locals {
  environment = {
    name                 = "staging"
    storage_account_name = "diamondstgwatermarks"
    overrides = {
      api          = { min_replicas = 0 }
      worker       = { min_replicas = 0 }
      consolidator = { min_replicas = 0 }
      dashboard    = { min_replicas = 0 }
    }
    max_scheduler_records = var.max_scheduler_records
  }
}

variable "max_scheduler_records" {
  description = "MAX_SCHEDULER_RECORDS for staging runs: a capped sample of the feed"
  type        = number
  default     = 5000

  validation {
    condition     = var.max_scheduler_records > 0
    error_message = "staging must cap runs (MAX_SCHEDULER_RECORDS > 0)."
  }
}
