# environment: one deployment of diamond (prod, staging): its resource group and the four
# modules wired together. Names follow the seed's (diamond-prod-rg, diamond-prod-servicebus,
# diamondprodacr, diamond-prod-api, ...) with the environment's name in place of "prod". Every
# value the seed states is a module default; an environment passes only what differs
# (environments/<env>/main.tf) and the operator's inputs (environments/common/root.tf).

terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 3.110"
    }
  }
}

data "azurerm_client_config" "current" {}

locals {
  name_prefix = "diamond-${var.name}"
  tags = {
    project     = "diamond"
    environment = var.name
  }
}

resource "azurerm_resource_group" "this" {
  name     = "${local.name_prefix}-rg"
  location = var.location
  tags     = local.tags
}

module "service_bus" {
  source         = "../service-bus"
  namespace_name = "${local.name_prefix}-servicebus"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

module "storage" {
  source         = "../storage"
  account_name   = var.storage_account_name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

module "container_registry" {
  source         = "../container-registry"
  registry_name  = "diamond${var.name}acr"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

module "container_apps" {
  source         = "../container-apps"
  name_prefix    = local.name_prefix
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags

  registry_server  = module.container_registry.login_server
  pull_identity_id = module.container_registry.pull_identity_id
  image_tag        = var.image_tag

  overrides             = var.overrides
  max_scheduler_records = var.max_scheduler_records
  config                = var.config
  secrets               = var.secrets
  subscription_id       = data.azurerm_client_config.current.subscription_id

  # Least privilege: queue-scoped Service Bus rules and container-scoped SAS tokens only
  # (no namespace rule, no storage account key reaches an app).
  servicebus_namespace                  = module.service_bus.namespace_name
  app_queues                            = module.service_bus.app_queues
  servicebus_queue_connection_strings   = module.service_bus.queue_connection_strings
  keda_connection_strings               = module.service_bus.keda_connection_strings
  monitor_servicebus_connection_strings = module.service_bus.monitor_connection_strings
  storage_reader_connection_string      = module.storage.reader_connection_string
  storage_writer_connection_string      = module.storage.writer_connection_string
}
