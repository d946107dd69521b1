# container-apps: the Container Apps environment (logs to a Log Analytics workspace), the api,
# worker, consolidator and dashboard apps, and the scheduler Container Apps Job, with the seed's
# replicas, CPU, memory, ingress ports, KEDA azure-servicebus scale rules and environment.
#
# Container names are the service names (api, worker, ...): Log Analytics reports them as
# ContainerName_s, which the runbook's KQL filters on. Environment variables are the seed's
# list per container, with least-privilege credentials (issue 15 item 18): instead of the
# namespace-level AZURE_SERVICE_BUS_CONNECTION_STRING each app gets one queue-scoped
# connection string per queue it uses (AZURE_SERVICE_BUS_CONNECTION_STRING_<QUEUE>, rights as
# in the service-bus module's app_permissions), and instead of the storage account key a SAS
# on the watermarks container (read-only; read/write for the consolidator; the worker, which
# never touches the watermark, gets none). Every secret is a Container App secret referenced
# by name.

terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 3.110"
    }
  }
}

locals {
  job_name = "${var.name_prefix}-scheduler"
}

resource "azurerm_log_analytics_workspace" "this" {
  name                = "${var.name_prefix}-logs"
  location            = var.location
  resource_group_name = var.resource_group_name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_container_app_environment" "this" {
  name                       = "${var.name_prefix}-env"
  location                   = var.location
  resource_group_name        = var.resource_group_name
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id
  tags                       = var.tags
}

# ------------------------------------------------------------------------------------------
# API: 1-3 replicas, 0.5 vCPU / 1Gi, external HTTPS ingress to port 3000, system-assigned
# identity allowed to start the scheduler job.
# ------------------------------------------------------------------------------------------
resource "azurerm_container_app" "api" {
  name                         = "${var.name_prefix}-api"
  container_app_environment_id = azurerm_container_app_environment.this.id
  resource_group_name          = var.resource_group_name
  revision_mode                = "Single"
  tags                         = var.tags

  identity {
    type         = "SystemAssigned, UserAssigned"
    identity_ids = [var.pull_identity_id]
  }

  registry {
    server   = var.registry_server
    identity = var.pull_identity_id
  }

  secret {
    name  = "database-password"
    value = var.database_password
  }
  secret {
    name  = "storage-connection-string"
    value = var.storage_reader_connection_string
  }
  secret {
    name  = "servicebus-work-items"
    value = var.servicebus_queue_connection_strings["api/work-items"]
  }
  secret {
    name  = "servicebus-consolidate"
    value = var.servicebus_queue_connection_strings["api/consolidate"]
  }
  secret {
    name  = "hmac-secrets"
    value = var.hmac_secrets
  }

  ingress {
    external_enabled           = true
    target_port                = var.api.port
    transport                  = "auto"
    allow_insecure_connections = false

    traffic_weight {
      percentage      = 100
      latest_revision = true
    }
  }

  template {
    min_replicas = var.api.min_replicas
    max_replicas = var.api.max_replicas

    container {
      name   = "api"
      image  = "${var.registry_server}/diamond-api:${var.image_tag}"
      cpu    = var.api.cpu
      memory = var.api.memory

      env {
        name  = "PORT"
        value = tostring(var.api.port)
      }
      env {
        name  = "DATABASE_HOST"
        value = var.database_host
      }
      env {
        name  = "DATABASE_PORT"
        value = tostring(var.database_port)
      }
      env {
        name  = "DATABASE_NAME"
        value = var.database_name
      }
      env {
        name  = "DATABASE_USERNAME"
        value = var.database_username
      }
      env {
        name        = "DATABASE_PASSWORD"
        secret_name = "database-password"
      }
      env {
        name        = "AZURE_STORAGE_CONNECTION_STRING"
        secret_name = "storage-connection-string"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS"
        secret_name = "servicebus-work-items"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE"
        secret_name = "servicebus-consolidate"
      }
      env {
        name        = "HMAC_SECRETS"
        secret_name = "hmac-secrets"
      }
      env {
        name  = "AZURE_SUBSCRIPTION_ID"
        value = var.subscription_id
      }
      env {
        name  = "AZURE_RESOURCE_GROUP"
        value = var.resource_group_name
      }
      env {
        name  = "AZURE_SCHEDULER_JOB_NAME"
        value = local.job_name
      }
      # Abuse limits, explicit here rather than left to the binary's defaults (issue 15).
      env {
        name  = "API_RATE_LIMIT_RPS"
        value = tostring(var.api_limits.rate_limit_rps)
      }
      env {
        name  = "API_AUTH_FAILURES_PER_MIN"
        value = tostring(var.api_limits.auth_failures_per_min)
      }
      env {
        name  = "API_SUPPLIER_PER_CLIENT"
        value = tostring(var.api_limits.supplier_calls_per_client)
      }
      env {
        name  = "API_MAX_CONNECTIONS_PER_IP"
        value = tostring(var.api_limits.connections_per_ip)
      }
      # The Container Apps ingress appends the client address to X-Forwarded-For.
      env {
        name  = "API_TRUSTED_PROXY_HOPS"
        value = "1"
      }

      # TCP, not /health: /health answers 503 while PostgreSQL or the queue is unreachable, and
      # a dependency outage must give 503s from a running API, not a restart loop (api.md).
      liveness_probe {
        transport = "TCP"
        port      = var.api.port
      }

      readiness_probe {
        transport = "TCP"
        port      = var.api.port
      }
    }

    http_scale_rule {
      name                = "http-concurrency"
      concurrent_requests = "50"
    }
  }
}

# ------------------------------------------------------------------------------------------
# Worker: 0-30 replicas, 0.5 vCPU / 1Gi, KEDA on work-items (10 messages per replica).
# ------------------------------------------------------------------------------------------
resource "azurerm_container_app" "worker" {
  name                         = "${var.name_prefix}-worker"
  container_app_environment_id = azurerm_container_app_environment.this.id
  resource_group_name          = var.resource_group_name
  revision_mode                = "Single"
  tags                         = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [var.pull_identity_id]
  }

  registry {
    server   = var.registry_server
    identity = var.pull_identity_id
  }

  secret {
    name  = "database-password"
    value = var.database_password
  }
  secret {
    name  = "servicebus-work-items"
    value = var.servicebus_queue_connection_strings["worker/work-items"]
  }
  secret {
    name  = "servicebus-work-done"
    value = var.servicebus_queue_connection_strings["worker/work-done"]
  }
  secret {
    name  = "servicebus-consolidate"
    value = var.servicebus_queue_connection_strings["worker/consolidate"]
  }
  secret {
    name  = "keda-servicebus-connection-string"
    value = var.keda_connection_strings[var.worker.queue_name]
  }
  secret {
    name  = "nivoda-username"
    value = var.nivoda_username
  }
  secret {
    name  = "nivoda-password"
    value = var.nivoda_password
  }

  template {
    min_replicas = var.worker.min_replicas
    max_replicas = var.worker.max_replicas

    container {
      name   = "worker"
      image  = "${var.registry_server}/diamond-worker:${var.image_tag}"
      cpu    = var.worker.cpu
      memory = var.worker.memory

      env {
        name  = "DATABASE_HOST"
        value = var.database_host
      }
      env {
        name  = "DATABASE_PORT"
        value = tostring(var.database_port)
      }
      env {
        name  = "DATABASE_NAME"
        value = var.database_name
      }
      env {
        name  = "DATABASE_USERNAME"
        value = var.database_username
      }
      env {
        name        = "DATABASE_PASSWORD"
        secret_name = "database-password"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS"
        secret_name = "servicebus-work-items"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE"
        secret_name = "servicebus-work-done"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE"
        secret_name = "servicebus-consolidate"
      }
      env {
        name  = "NIVODA_ENDPOINT"
        value = var.nivoda_endpoint
      }
      env {
        name        = "NIVODA_USERNAME"
        secret_name = "nivoda-username"
      }
      env {
        name        = "NIVODA_PASSWORD"
        secret_name = "nivoda-password"
      }
    }

    custom_scale_rule {
      name             = "servicebus-work-items-scale"
      custom_rule_type = "azure-servicebus"
      metadata = {
        namespace              = var.servicebus_namespace
        queueName              = var.worker.queue_name
        messageCount           = var.worker.message_count
        activationMessageCount = var.worker.activation_message_count
      }
      authentication {
        secret_name       = "keda-servicebus-connection-string"
        trigger_parameter = "connection"
      }
    }
  }
}

# ------------------------------------------------------------------------------------------
# Consolidator: 1-3 replicas, 1.0 vCPU / 2Gi, KEDA on consolidate (1 message per replica).
# ------------------------------------------------------------------------------------------
resource "azurerm_container_app" "consolidator" {
  name                         = "${var.name_prefix}-consolidator"
  container_app_environment_id = azurerm_container_app_environment.this.id
  resource_group_name          = var.resource_group_name
  revision_mode                = "Single"
  tags                         = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [var.pull_identity_id]
  }

  registry {
    server   = var.registry_server
    identity = var.pull_identity_id
  }

  secret {
    name  = "database-password"
    value = var.database_password
  }
  secret {
    name  = "storage-connection-string"
    value = var.storage_writer_connection_string
  }
  secret {
    name  = "servicebus-consolidate"
    value = var.servicebus_queue_connection_strings["consolidator/consolidate"]
  }
  secret {
    name  = "servicebus-work-done"
    value = var.servicebus_queue_connection_strings["consolidator/work-done"]
  }
  secret {
    name  = "keda-servicebus-connection-string"
    value = var.keda_connection_strings[var.consolidator.queue_name]
  }
  secret {
    name  = "resend-api-key"
    value = var.resend_api_key
  }

  template {
    min_replicas = var.consolidator.min_replicas
    max_replicas = var.consolidator.max_replicas

    container {
      name   = "consolidator"
      image  = "${var.registry_server}/diamond-consolidator:${var.image_tag}"
      cpu    = var.consolidator.cpu
      memory = var.consolidator.memory

      env {
        name  = "DATABASE_HOST"
        value = var.database_host
      }
      env {
        name  = "DATABASE_PORT"
        value = tostring(var.database_port)
      }
      env {
        name  = "DATABASE_NAME"
        value = var.database_name
      }
      env {
        name  = "DATABASE_USERNAME"
        value = var.database_username
      }
      env {
        name        = "DATABASE_PASSWORD"
        secret_name = "database-password"
      }
      env {
        name        = "AZURE_STORAGE_CONNECTION_STRING"
        secret_name = "storage-connection-string"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE"
        secret_name = "servicebus-consolidate"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE"
        secret_name = "servicebus-work-done"
      }
      env {
        name        = "RESEND_API_KEY"
        secret_name = "resend-api-key"
      }
      env {
        name  = "ALERT_EMAIL_TO"
        value = var.alert_email_to
      }
      env {
        name  = "ALERT_EMAIL_FROM"
        value = var.alert_email_from
      }
    }

    custom_scale_rule {
      name             = "servicebus-consolidate-scale"
      custom_rule_type = "azure-servicebus"
      metadata = {
        namespace              = var.servicebus_namespace
        queueName              = var.consolidator.queue_name
        messageCount           = var.consolidator.message_count
        activationMessageCount = var.consolidator.activation_message_count
      }
      authentication {
        secret_name       = "keda-servicebus-connection-string"
        trigger_parameter = "connection"
      }
    }
  }
}

# ------------------------------------------------------------------------------------------
# Dashboard: 1-2 replicas, 0.25 vCPU / 0.5Gi, external HTTPS ingress to port 80.
# ------------------------------------------------------------------------------------------
resource "azurerm_container_app" "dashboard" {
  name                         = "${var.name_prefix}-dashboard"
  container_app_environment_id = azurerm_container_app_environment.this.id
  resource_group_name          = var.resource_group_name
  revision_mode                = "Single"
  tags                         = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [var.pull_identity_id]
  }

  registry {
    server   = var.registry_server
    identity = var.pull_identity_id
  }

  ingress {
    external_enabled           = true
    target_port                = var.dashboard.port
    transport                  = "auto"
    allow_insecure_connections = false

    traffic_weight {
      percentage      = 100
      latest_revision = true
    }
  }

  template {
    min_replicas = var.dashboard.min_replicas
    max_replicas = var.dashboard.max_replicas

    container {
      name   = "dashboard"
      image  = "${var.registry_server}/diamond-dashboard:${var.image_tag}"
      cpu    = var.dashboard.cpu
      memory = var.dashboard.memory

      env {
        name  = "API_URL"
        value = "https://${azurerm_container_app.api.ingress[0].fqdn}"
      }

      liveness_probe {
        transport = "TCP"
        port      = var.dashboard.port
      }
    }

    http_scale_rule {
      name                = "http-concurrency"
      concurrent_requests = "50"
    }
  }
}

# ------------------------------------------------------------------------------------------
# Scheduler: a Container Apps Job, cron "0 2 * * *" (UTC), 0.5 vCPU / 1Gi, 1800 s timeout,
# 1 retry. The API starts it manually through ARM with its managed identity.
# ------------------------------------------------------------------------------------------
resource "azurerm_container_app_job" "scheduler" {
  name                         = local.job_name
  location                     = var.location
  resource_group_name          = var.resource_group_name
  container_app_environment_id = azurerm_container_app_environment.this.id
  replica_timeout_in_seconds   = var.scheduler.timeout_seconds
  replica_retry_limit          = var.scheduler.retry_limit
  tags                         = var.tags

  schedule_trigger_config {
    cron_expression          = var.scheduler.cron_expression
    parallelism              = 1
    replica_completion_count = 1
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [var.pull_identity_id]
  }

  registry {
    server   = var.registry_server
    identity = var.pull_identity_id
  }

  secret {
    name  = "database-password"
    value = var.database_password
  }
  secret {
    name  = "storage-connection-string"
    value = var.storage_reader_connection_string
  }
  secret {
    name  = "servicebus-work-items"
    value = var.servicebus_queue_connection_strings["scheduler/work-items"]
  }
  secret {
    name  = "nivoda-username"
    value = var.nivoda_username
  }
  secret {
    name  = "nivoda-password"
    value = var.nivoda_password
  }

  template {
    container {
      name   = "scheduler"
      image  = "${var.registry_server}/diamond-scheduler:${var.image_tag}"
      cpu    = var.scheduler.cpu
      memory = var.scheduler.memory

      env {
        name  = "DATABASE_HOST"
        value = var.database_host
      }
      env {
        name  = "DATABASE_PORT"
        value = tostring(var.database_port)
      }
      env {
        name  = "DATABASE_NAME"
        value = var.database_name
      }
      env {
        name  = "DATABASE_USERNAME"
        value = var.database_username
      }
      env {
        name        = "DATABASE_PASSWORD"
        secret_name = "database-password"
      }
      env {
        name        = "AZURE_STORAGE_CONNECTION_STRING"
        secret_name = "storage-connection-string"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS"
        secret_name = "servicebus-work-items"
      }
      env {
        name  = "NIVODA_ENDPOINT"
        value = var.nivoda_endpoint
      }
      env {
        name        = "NIVODA_USERNAME"
        secret_name = "nivoda-username"
      }
      env {
        name        = "NIVODA_PASSWORD"
        secret_name = "nivoda-password"
      }
      env {
        name  = "MAX_SCHEDULER_RECORDS"
        value = tostring(var.scheduler.max_records)
      }
    }
  }
}

# ------------------------------------------------------------------------------------------
# Monitor: `diamond check` every hour (the seed's five thresholds, alerts by e-mail). Locally the
# resident scheduler runs it; in Azure the scheduler is a daily job, so the check gets its own.
# Its Service Bus rules have Manage, one per queue: reading a queue's dead-letter count needs it.
# ------------------------------------------------------------------------------------------
resource "azurerm_container_app_job" "monitor" {
  count                        = var.monitor.enabled ? 1 : 0
  name                         = "${var.name_prefix}-monitor"
  location                     = var.location
  resource_group_name          = var.resource_group_name
  container_app_environment_id = azurerm_container_app_environment.this.id
  replica_timeout_in_seconds   = var.monitor.timeout_seconds
  replica_retry_limit          = 0
  tags                         = var.tags

  schedule_trigger_config {
    cron_expression          = var.monitor.cron_expression
    parallelism              = 1
    replica_completion_count = 1
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [var.pull_identity_id]
  }

  registry {
    server   = var.registry_server
    identity = var.pull_identity_id
  }

  secret {
    name  = "database-password"
    value = var.database_password
  }
  secret {
    name  = "storage-connection-string"
    value = var.storage_reader_connection_string
  }
  secret {
    name  = "servicebus-work-items"
    value = var.monitor_servicebus_connection_strings["work-items"]
  }
  secret {
    name  = "servicebus-work-done"
    value = var.monitor_servicebus_connection_strings["work-done"]
  }
  secret {
    name  = "servicebus-consolidate"
    value = var.monitor_servicebus_connection_strings["consolidate"]
  }
  secret {
    name  = "resend-api-key"
    value = var.resend_api_key
  }

  template {
    container {
      name    = "monitor"
      image   = "${var.registry_server}/diamond-scheduler:${var.image_tag}"
      command = ["/usr/local/bin/diamond", "check", "--json"]
      cpu     = var.monitor.cpu
      memory  = var.monitor.memory

      env {
        name  = "DATABASE_HOST"
        value = var.database_host
      }
      env {
        name  = "DATABASE_PORT"
        value = tostring(var.database_port)
      }
      env {
        name  = "DATABASE_NAME"
        value = var.database_name
      }
      env {
        name  = "DATABASE_USERNAME"
        value = var.database_username
      }
      env {
        name        = "DATABASE_PASSWORD"
        secret_name = "database-password"
      }
      env {
        name        = "AZURE_STORAGE_CONNECTION_STRING"
        secret_name = "storage-connection-string"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_ITEMS"
        secret_name = "servicebus-work-items"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_WORK_DONE"
        secret_name = "servicebus-work-done"
      }
      env {
        name        = "AZURE_SERVICE_BUS_CONNECTION_STRING_CONSOLIDATE"
        secret_name = "servicebus-consolidate"
      }
      env {
        name        = "RESEND_API_KEY"
        secret_name = "resend-api-key"
      }
      env {
        name  = "ALERT_EMAIL_TO"
        value = var.alert_email_to
      }
      env {
        name  = "ALERT_EMAIL_FROM"
        value = var.alert_email_from
      }
    }
  }
}

# The API's system-assigned identity may start (and read) the scheduler job, nothing else.
resource "azurerm_role_assignment" "api_starts_scheduler" {
  scope                = azurerm_container_app_job.scheduler.id
  role_definition_name = var.job_operator_role
  principal_id         = azurerm_container_app.api.identity[0].principal_id
}
