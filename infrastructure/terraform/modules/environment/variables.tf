variable "name" {
  description = "Environment name (prod, staging): in every resource name and the environment tag"
  type        = string

  validation {
    condition     = can(regex("^[a-z]+$", var.name))
    error_message = "name must be lowercase letters (it is part of the registry name)."
  }
}

variable "location" {
  type = string
}

variable "storage_account_name" {
  description = "Globally unique storage account name for the watermark"
  type        = string
}

variable "image_tag" {
  description = "Image tag the apps run (deploy.yml moves them to the commit SHA)"
  type        = string
  default     = null
}

# Passed to modules/container-apps as they are (typed and defaulted there).

variable "overrides" {
  description = "container-apps overrides: per service, the sizes this environment changes"
  type        = any
  default     = null
}

variable "max_scheduler_records" {
  description = "container-apps max_scheduler_records (MAX_SCHEDULER_RECORDS; null: unlimited)"
  type        = number
  default     = null
}

variable "config" {
  description = "container-apps config: the services' plain settings"
  type        = any
}

variable "secrets" {
  description = "container-apps secrets"
  type        = any
  sensitive   = true
}
