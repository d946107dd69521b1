variable "namespace_name" {
  description = "Service Bus namespace name (seed: diamond-prod-servicebus)"
  type        = string
}

variable "location" {
  type = string
}

variable "resource_group_name" {
  type = string
}

variable "sku" {
  description = "Namespace SKU (seed: Standard; queues with duplicate detection need Standard)"
  type        = string
  default     = "Standard"
}

variable "default_message_ttl" {
  description = "Message time-to-live on every queue (pipeline.md: 1 day); expired messages are dead-lettered"
  type        = string
  default     = "P1D"
}

variable "queues" {
  description = "Queues and their settings, as in the seed"
  type = map(object({
    lock_duration              = string
    max_delivery_count         = number
    duplicate_detection_window = optional(string)
  }))
  default = {
    "work-items" = {
      lock_duration              = "PT2M"
      max_delivery_count         = 5
      duplicate_detection_window = "PT10M"
    }
    "work-done" = {
      lock_duration      = "PT1M"
      max_delivery_count = 3
    }
    "consolidate" = {
      lock_duration      = "PT5M"
      max_delivery_count = 3
    }
  }
}

variable "app_permissions" {
  description = "Rights per application and queue (the pipeline's data flow): send and/or listen. Each entry becomes a queue-scoped rule \"<app>-<queue>\", the app's only credential for that queue (AZURE_SERVICE_BUS_CONNECTION_STRING_<QUEUE>)"
  type        = map(map(list(string)))
  default = {
    scheduler = {
      "work-items" = ["send"]
    }
    worker = {
      "work-items"  = ["listen", "send"]
      "work-done"   = ["send"]
      "consolidate" = ["send"]
    }
    consolidator = {
      "consolidate" = ["listen", "send"]
      "work-done"   = ["listen"]
    }
    api = {
      "consolidate" = ["send"]
      "work-items"  = ["send"]
    }
  }
}

variable "keda_scaled_queues" {
  description = "Queues that KEDA scale rules watch (each gets a queue-scoped Manage rule)"
  type        = list(string)
  default     = ["work-items", "consolidate"]
}

variable "tags" {
  type    = map(string)
  default = {}
}
