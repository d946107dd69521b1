# Every value the seed states is the default here; environments override only what differs.

variable "name_prefix" {
  description = "Resource name prefix (seed: diamond-prod), giving diamond-prod-api etc."
  type        = string
}

variable "location" {
  type = string
}

variable "resource_group_name" {
  type = string
}

variable "tags" {
  type    = map(string)
  default = {}
}

# --- images -------------------------------------------------------------------------------

variable "registry_server" {
  description = "ACR login server, e.g. diamondprodacr.azurecr.io"
  type        = string
}

variable "pull_identity_id" {
  description = "User-assigned identity with AcrPull on the registry"
  type        = string
}

variable "image_tag" {
  description = "Image tag to run (latest, or a commit SHA; deploy.yml moves apps to the SHA)"
  type        = string
  default     = "latest"
  nullable    = false
}

# --- Log Analytics ------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Log Analytics retention (seed: 30 days)"
  type        = number
  default     = 30
}

# --- scaling and resources (seed: Container Apps Environment table) -----------------------

variable "apps" {
  description = <<-EOT
    Per container app, the seed's settings: replicas, CPU, memory; `port`: external HTTPS
    ingress to that port (API and dashboard only); `scale`: the KEDA azure-servicebus rule on a
    queue (worker and consolidator).
  EOT
  type = map(object({
    min_replicas = number
    max_replicas = number
    cpu          = number
    memory       = string
    port         = optional(number)
    scale = optional(object({
      queue_name               = string
      message_count            = string
      activation_message_count = string
    }))
  }))
  default = {
    api = {
      min_replicas = 1
      max_replicas = 3
      cpu          = 0.5
      memory       = "1Gi"
      port         = 3000
    }
    worker = {
      min_replicas = 0
      max_replicas = 30
      cpu          = 0.5
      memory       = "1Gi"
      scale = {
        queue_name               = "work-items"
        message_count            = "10"
        activation_message_count = "0"
      }
    }
    consolidator = {
      min_replicas = 1
      max_replicas = 3
      cpu          = 1.0
      memory       = "2Gi"
      scale = {
        queue_name               = "consolidate"
        message_count            = "1"
        activation_message_count = "0"
      }
    }
    dashboard = {
      min_replicas = 1
      max_replicas = 2
      cpu          = 0.25
      memory       = "0.5Gi"
      port         = 80
    }
  }
}

variable "overrides" {
  description = "Per service (app or job), the sizes an environment changes (staging: min_replicas = 0); the rest keep var.apps, var.scheduler, var.monitor"
  type = map(object({
    min_replicas = optional(number)
    max_replicas = optional(number)
    cpu          = optional(number)
    memory       = optional(string)
  }))
  default  = {}
  nullable = false
}

variable "scheduler" {
  description = "The scheduler Container Apps Job (seed: Scheduler Container Apps Job)"
  type = object({
    cron_expression = string
    cpu             = number
    memory          = string
    timeout_seconds = number
    retry_limit     = number
  })
  default = {
    cron_expression = "0 2 * * *"
    cpu             = 0.5
    memory          = "1Gi"
    timeout_seconds = 1800
    retry_limit     = 1
  }
}

variable "max_scheduler_records" {
  description = "MAX_SCHEDULER_RECORDS of the scheduler: 0 = unlimited (staging caps it)"
  type        = number
  default     = 0
  nullable    = false
}

variable "monitor" {
  description = "Hourly `diamond check` job (the seed's monitoring thresholds)"
  type = object({
    enabled         = bool
    cron_expression = string
    cpu             = number
    memory          = string
    timeout_seconds = number
  })
  default = {
    enabled         = true
    cron_expression = "0 * * * *"
    cpu             = 0.25
    memory          = "0.5Gi"
    timeout_seconds = 300
  }
}

variable "job_operator_role" {
  description = "Built-in role letting the API start the scheduler job (the seed's \"Container App Job Operator\")"
  type        = string
  default     = "Container Apps Jobs Operator"
}

# --- service configuration (seed: Environment Variables) -----------------------------------

variable "config" {
  description = "The services' plain settings; the seed's values are the defaults"
  type = object({
    database_host     = string
    database_port     = optional(number, 5432)
    database_name     = optional(string, "postgres")
    database_username = string
    nivoda_endpoint   = optional(string, "https://graphql-lab.nivoda.net/graphql")
    alert_email_to    = optional(string, "alerts@example.com")
    alert_email_from  = optional(string, "noreply@example.com")
  })
}

variable "subscription_id" {
  description = "AZURE_SUBSCRIPTION_ID given to the API (for starting the scheduler job)"
  type        = string
}

variable "servicebus_namespace" {
  description = "Service Bus namespace name, for the KEDA scale rules"
  type        = string
}

variable "app_queues" {
  description = "Per app: the queues it holds a queue-scoped rule for (service-bus module output app_queues)"
  type        = map(list(string))
}

variable "api_limits" {
  description = <<-EOT
    Abuse limits of the API (docs/operations.md, Security): requests per second per verified
    client, failed authentications per client IP per minute, supplier calls in flight per client,
    open connections per client IP. Behind the Container Apps ingress every connection comes from
    the ingress proxies, so the connection cap per IP is set well above the default.
  EOT
  type = object({
    rate_limit_rps            = number
    auth_failures_per_min     = number
    supplier_calls_per_client = number
    connections_per_ip        = number
  })
  default = {
    rate_limit_rps            = 100
    auth_failures_per_min     = 30
    supplier_calls_per_client = 4
    connections_per_ip        = 1024
  }
}

# --- secrets (stored as Container App secrets, never as plain env values) ------------------

variable "secrets" {
  description = "DATABASE_PASSWORD, HMAC_SECRETS (JSON object client id -> secret, or -> {secret, permissions}), NIVODA_USERNAME, NIVODA_PASSWORD, RESEND_API_KEY"
  type = object({
    database_password = string
    hmac_secrets      = string
    nivoda_username   = string
    nivoda_password   = string
    resend_api_key    = string
  })
  sensitive = true
}

variable "storage_reader_connection_string" {
  description = "AZURE_STORAGE_CONNECTION_STRING of the API, scheduler and monitor: read-only SAS on the watermarks container (never the account key)"
  type        = string
  sensitive   = true
}

variable "storage_writer_connection_string" {
  description = "AZURE_STORAGE_CONNECTION_STRING of the consolidator: read/create/write SAS on the watermarks container (never the account key)"
  type        = string
  sensitive   = true
}

variable "servicebus_queue_connection_strings" {
  description = "Per \"app/queue\" (service-bus module output queue_connection_strings): the queue-scoped rule's connection string, given to that app as AZURE_SERVICE_BUS_CONNECTION_STRING_<QUEUE>"
  type        = map(string)
  sensitive   = true
}

variable "monitor_servicebus_connection_strings" {
  description = "Per queue: queue-scoped connection string with Manage for the monitor job (dead-letter counts)"
  type        = map(string)
  sensitive   = true
}

variable "keda_connection_strings" {
  description = "Per scaled queue (work-items, consolidate): queue-scoped Manage connection string"
  type        = map(string)
  sensitive   = true
}
