# container-registry: the Basic Azure Container Registry holding the five images
# (diamond-api, -worker, -consolidator, -scheduler, -dashboard; tags latest and the commit SHA),
# and a user-assigned identity with AcrPull that the container apps use to pull (no admin user).

terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 3.110"
    }
  }
}

resource "azurerm_container_registry" "this" {
  name                = var.registry_name
  location            = var.location
  resource_group_name = var.resource_group_name
  sku                 = var.sku
  admin_enabled       = false
  tags                = var.tags
}

resource "azurerm_user_assigned_identity" "pull" {
  name                = "${var.registry_name}-pull"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_role_assignment" "pull" {
  scope                = azurerm_container_registry.this.id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_user_assigned_identity.pull.principal_id
}
