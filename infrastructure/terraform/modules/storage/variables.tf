variable "account_name" {
  description = "Storage account name (3-24 lowercase letters and digits, globally unique)"
  type        = string
}

variable "location" {
  type = string
}

variable "resource_group_name" {
  type = string
}

variable "replication_type" {
  description = "Replication (seed: LRS)"
  type        = string
  default     = "LRS"
}

variable "container_name" {
  description = "Blob container of the watermark (seed: watermarks)"
  type        = string
  default     = "watermarks"
}

variable "retention_days" {
  description = "Days deleted blobs and previous watermark versions are kept (seed: 30)"
  type        = number
  default     = 30
}

variable "sas_rotation_days" {
  description = "The apps' container SAS tokens are re-issued at the first apply this many days after the last issue"
  type        = number
  default     = 90
}

variable "sas_validity_days" {
  description = "Lifetime of a container SAS token from its issue (longer than the rotation period: the slack for an apply)"
  type        = number
  default     = 365

  validation {
    condition     = var.sas_validity_days > 0
    error_message = "sas_validity_days must be positive."
  }
}

variable "tags" {
  type    = map(string)
  default = {}
}
