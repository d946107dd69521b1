variable "location" {
  type    = string
  default = "eastus"
}

variable "storage_account_name" {
  description = "Globally unique storage account name for the watermark"
  type        = string
  default     = "diamondstgwatermarks"
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

variable "database_password" {
  type      = string
  sensitive = true
}

variable "hmac_secrets" {
  type      = string
  sensitive = true
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

variable "alert_email_to" {
  type    = string
  default = "alerts@example.com"
}

variable "alert_email_from" {
  type    = string
  default = "noreply@example.com"
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
