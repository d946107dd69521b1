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

variable "tags" {
  type    = map(string)
  default = {}
}
