# container-apps: the Container Apps environment (logs to a Log Analytics workspace), the api,
# worker, consolidator and dashboard apps, and the scheduler and monitor Container Apps Jobs,
# with the seed's replicas, CPU, memory, ingress ports, KEDA azure-servicebus scale rules and
# environment.
#
# One resource block builds the four apps and one the two jobs, from per-service tables:
# var.apps, var.scheduler and var.monitor (the seed's sizes, ports, scale rules and schedules;
# var.overrides changes sizes per environment), and local.services below (what each service's
# container is given). Container names are the service names (api, worker, ...): Log Analytics
# reports them as ContainerName_s, which the runbook's KQL filters on.
#
# Environment variables are the seed's list per container, with least-privilege credentials
# (issue 15 item 18): instead of the namespace-level AZURE_SERVICE_BUS_CONNECTION_STRING each
# service gets one queue-scoped connection string per queue it uses
# (AZURE_SERVICE_BUS_CONNECTION_STRING_<QUEUE>, rights as in the service-bus module's
# app_permissions, whose app_queues output is var.app_queues), and instead of the storage account
# key a SAS on the watermarks container (read-only; read/write for the consolidator; the worker,
# which never touches the watermark, gets none). Every secret is a Container App secret
# referenced by name. No sensitive value reaches a for_each: the tables hold secret names, and a
# value is looked up (local.secret_values) only where the secret block is written.

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

  # The apps' settings: the seed's (var.apps) with the sizes the environment overrides.
  apps = {
    for name, app in var.apps : name => merge(app, { for k, v in try(var.overrides[name], {}) : k => v if v != null })
  }

  # The jobs: the daily scheduler (started by hand through the API too) and the hourly monitor
  # (`diamond check`: locally the resident scheduler runs it; in Azure the scheduler is a daily
  # job, so the check gets its own). Both run the scheduler image.
  jobs = {
    for name, job in {
      scheduler = merge(var.scheduler, { enabled = true, command = null })
      monitor   = merge(var.monitor, { retry_limit = 0, command = ["/usr/local/bin/diamond", "check", "--json"] })
    } : name => merge(job, { for k, v in try(var.overrides[name], {}) : k => v if v != null }) if job.enabled
  }

  # What each service's container gets: DATABASE_* (all but the dashboard), the watermark SAS it
  # may use (reader, writer or none), one queue-scoped Service Bus rule per queue it uses, its
  # own plain variables (env) and its own secrets (secret_env: variable => secret name).
  services = {
    api = {
      database = true
      storage  = "reader"
      queues   = var.app_queues["api"]
      env = {
        PORT                     = tostring(local.apps["api"].port)
        AZURE_SUBSCRIPTION_ID    = var.subscription_id
        AZURE_RESOURCE_GROUP     = var.resource_group_name
        AZURE_SCHEDULER_JOB_NAME = local.job_name
        # Abuse limits, explicit here rather than left to the binary's defaults (issue 15).
        API_RATE_LIMIT_RPS         = tostring(var.api_limits.rate_limit_rps)
        API_AUTH_FAILURES_PER_MIN  = tostring(var.api_limits.auth_failures_per_min)
        API_SUPPLIER_PER_CLIENT    = tostring(var.api_limits.supplier_calls_per_client)
        API_MAX_CONNECTIONS_PER_IP = tostring(var.api_limits.connections_per_ip)
        # The Container Apps ingress appends the client address to X-Forwarded-For.
        API_TRUSTED_PROXY_HOPS = "1"
      }
      secret_env = { HMAC_SECRETS = "hmac-secrets" }
    }
    worker = {
      database   = true
      storage    = null
      queues     = var.app_queues["worker"]
      env        = { NIVODA_ENDPOINT = var.config.nivoda_endpoint }
      secret_env = { NIVODA_USERNAME = "nivoda-username", NIVODA_PASSWORD = "nivoda-password" }
    }
    consolidator = {
      database   = true
      storage    = "writer"
      queues     = var.app_queues["consolidator"]
      env        = { ALERT_EMAIL_TO = var.config.alert_email_to, ALERT_EMAIL_FROM = var.config.alert_email_from }
      secret_env = { RESEND_API_KEY = "resend-api-key" }
    }
    dashboard = {
      database = false
      storage  = null
      queues   = []
      # The API's ingress FQDN: <app name>.<environment default domain>.
      env        = { API_URL = "https://${var.name_prefix}-api.${azurerm_container_app_environment.this.default_domain}" }
      secret_env = {}
    }
    scheduler = {
      database = true
      storage  = "reader"
      queues   = var.app_queues["scheduler"]
      env = {
        NIVODA_ENDPOINT       = var.config.nivoda_endpoint
        MAX_SCHEDULER_RECORDS = tostring(var.max_scheduler_records)
      }
      secret_env = { NIVODA_USERNAME = "nivoda-username", NIVODA_PASSWORD = "nivoda-password" }
    }
    # Every queue, each with a Manage rule: reading a queue's dead-letter count needs it.
    monitor = {
      database   = true
      storage    = "reader"
      queues     = sort(distinct(flatten(values(var.app_queues))))
      env        = { ALERT_EMAIL_TO = var.config.alert_email_to, ALERT_EMAIL_FROM = var.config.alert_email_from }
      secret_env = { RESEND_API_KEY = "resend-api-key" }
    }
  }

  database_env = {
    DATABASE_HOST     = var.config.database_host
    DATABASE_PORT     = tostring(var.config.database_port)
    DATABASE_NAME     = var.config.database_name
    DATABASE_USERNAME = var.config.database_username
  }

  # Per service: every environment variable, as { value } or { secret_name }.
  container_env = {
    for name, s in local.services : name => merge(
      { for k, v in local.database_env : k => { value = v, secret_name = null } if s.database },
      { for k, v in s.env : k => { value = v, secret_name = null } },
      { for k, v in { DATABASE_PASSWORD = "database-password" } : k => { value = null, secret_name = v } if s.database },
      { for k, v in { AZURE_STORAGE_CONNECTION_STRING = "storage-connection-string" } : k => { value = null, secret_name = v } if s.storage != null },
      { for q in s.queues : "AZURE_SERVICE_BUS_CONNECTION_STRING_${upper(replace(q, "-", "_"))}" => { value = null, secret_name = "servicebus-${q}" } },
      { for k, v in s.secret_env : k => { value = null, secret_name = v } },
    )
  }

  # Per service: the names of its Container App secrets (those its variables name, and the KEDA
  # scaler's for a scaled app).
  container_secrets = {
    for name, env in local.container_env : name => sort(concat(
      [for e in values(env) : e.secret_name if e.secret_name != null],
      [for q in [try(local.apps[name].scale.queue_name, null)] : "keda-servicebus-connection-string" if q != null],
    ))
  }

  # Per service: secret name => value. Only read inside secret blocks (values are sensitive).
  secret_values = {
    for name, s in local.services : name => merge(
      {
        "database-password" = var.secrets.database_password
        "hmac-secrets"      = var.secrets.hmac_secrets
        "nivoda-username"   = var.secrets.nivoda_username
        "nivoda-password"   = var.secrets.nivoda_password
        "resend-api-key"    = var.secrets.resend_api_key
      },
      { "storage-connection-string" = s.storage == "writer" ? var.storage_writer_connection_string : var.storage_reader_connection_string },
      {
        for q in s.queues : "servicebus-${q}" => (name == "monitor"
          ? var.monitor_servicebus_connection_strings[q]
        : var.servicebus_queue_connection_strings["${name}/${q}"])
      },
      { for q in [try(local.apps[name].scale.queue_name, null)] : "keda-servicebus-connection-string" => var.keda_connection_strings[q] if q != null },
    )
  }
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
# The apps (local.apps): API 1-3 replicas, 0.5 vCPU / 1Gi, external HTTPS ingress to 3000,
# system-assigned identity allowed to start the scheduler job; worker 0-30, 0.5 / 1Gi, KEDA on
# work-items (10 messages per replica); consolidator 1-3, 1.0 / 2Gi, KEDA on consolidate (1);
# dashboard 1-2, 0.25 / 0.5Gi, external HTTPS ingress to 80.
# ------------------------------------------------------------------------------------------
resource "azurerm_container_app" "app" {
  for_each                     = local.apps
  name                         = "${var.name_prefix}-${each.key}"
  container_app_environment_id = azurerm_container_app_environment.this.id
  resource_group_name          = var.resource_group_name
  revision_mode                = "Single"
  tags                         = var.tags

  identity {
    type         = each.key == "api" ? "SystemAssigned, UserAssigned" : "UserAssigned"
    identity_ids = [var.pull_identity_id]
  }

  registry {
    server   = var.registry_server
    identity = var.pull_identity_id
  }

  dynamic "secret" {
    for_each = local.container_secrets[each.key]
    content {
      name  = secret.value
      value = local.secret_values[each.key][secret.value]
    }
  }

  dynamic "ingress" {
    for_each = each.value.port != null ? [each.value.port] : []
    content {
      external_enabled           = true
      target_port                = ingress.value
      transport                  = "auto"
      allow_insecure_connections = false

      traffic_weight {
        percentage      = 100
        latest_revision = true
      }
    }
  }

  template {
    min_replicas = each.value.min_replicas
    max_replicas = each.value.max_replicas

    container {
      name   = each.key
      image  = "${var.registry_server}/diamond-${each.key}:${var.image_tag}"
      cpu    = each.value.cpu
      memory = each.value.memory

      dynamic "env" {
        for_each = local.container_env[each.key]
        content {
          name        = env.key
          value       = env.value.value
          secret_name = env.value.secret_name
        }
      }

      # TCP, not /health: /health answers 503 while PostgreSQL or the queue is unreachable, and
      # a dependency outage must give 503s from a running API, not a restart loop (api.md).
      dynamic "liveness_probe" {
        for_each = each.value.port != null ? [each.value.port] : []
        content {
          transport = "TCP"
          port      = liveness_probe.value
        }
      }

      dynamic "readiness_probe" {
        for_each = each.key == "api" ? [each.value.port] : []
        content {
          transport = "TCP"
          port      = readiness_probe.value
        }
      }
    }

    dynamic "http_scale_rule" {
      for_each = each.value.port != null ? ["http-concurrency"] : []
      content {
        name                = http_scale_rule.value
        concurrent_requests = "50"
      }
    }

    dynamic "custom_scale_rule" {
      for_each = each.value.scale != null ? [each.value.scale] : []
      content {
        name             = "servicebus-${custom_scale_rule.value.queue_name}-scale"
        custom_rule_type = "azure-servicebus"
        metadata = {
          namespace              = var.servicebus_namespace
          queueName              = custom_scale_rule.value.queue_name
          messageCount           = custom_scale_rule.value.message_count
          activationMessageCount = custom_scale_rule.value.activation_message_count
        }
        authentication {
          secret_name       = "keda-servicebus-connection-string"
          trigger_parameter = "connection"
        }
      }
    }
  }
}

# ------------------------------------------------------------------------------------------
# The jobs (local.jobs): scheduler, cron "0 2 * * *" (UTC), 0.5 vCPU / 1Gi, 1800 s timeout,
# 1 retry, started manually by the API through ARM with its managed identity; monitor, `diamond
# check` every hour (the seed's five thresholds, alerts by e-mail), no retry.
# ------------------------------------------------------------------------------------------
resource "azurerm_container_app_job" "job" {
  for_each                     = local.jobs
  name                         = "${var.name_prefix}-${each.key}"
  location                     = var.location
  resource_group_name          = var.resource_group_name
  container_app_environment_id = azurerm_container_app_environment.this.id
  replica_timeout_in_seconds   = each.value.timeout_seconds
  replica_retry_limit          = each.value.retry_limit
  tags                         = var.tags

  schedule_trigger_config {
    cron_expression          = each.value.cron_expression
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

  dynamic "secret" {
    for_each = local.container_secrets[each.key]
    content {
      name  = secret.value
      value = local.secret_values[each.key][secret.value]
    }
  }

  template {
    container {
      name    = each.key
      image   = "${var.registry_server}/diamond-scheduler:${var.image_tag}"
      command = each.value.command
      cpu     = each.value.cpu
      memory  = each.value.memory

      dynamic "env" {
        for_each = local.container_env[each.key]
        content {
          name        = env.key
          value       = env.value.value
          secret_name = env.value.secret_name
        }
      }
    }
  }
}

# The API's system-assigned identity may start (and read) the scheduler job, nothing else.
resource "azurerm_role_assignment" "api_starts_scheduler" {
  scope                = azurerm_container_app_job.job["scheduler"].id
  role_definition_name = var.job_operator_role
  principal_id         = azurerm_container_app.app["api"].identity[0].principal_id
}

# State addresses before the apps and jobs were built from one table each: moved, not replaced.
moved {
  from = azurerm_container_app.api
  to   = azurerm_container_app.app["api"]
}
moved {
  from = azurerm_container_app.worker
  to   = azurerm_container_app.app["worker"]
}
moved {
  from = azurerm_container_app.consolidator
  to   = azurerm_container_app.app["consolidator"]
}
moved {
  from = azurerm_container_app.dashboard
  to   = azurerm_container_app.app["dashboard"]
}
moved {
  from = azurerm_container_app_job.scheduler
  to   = azurerm_container_app_job.job["scheduler"]
}
moved {
  from = azurerm_container_app_job.monitor[0]
  to   = azurerm_container_app_job.job["monitor"]
}
