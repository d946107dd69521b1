# storage: the LRS storage account holding the watermark (container "watermarks", blob
# "watermark.json"), with blob versioning so every watermark write is kept, and 30-day
# retention of deleted blobs and old versions.
#
# Least privilege (issue 15 item 18): no application gets the account key. The apps get
# service SAS tokens scoped to the watermarks container, as connection strings
# `BlobEndpoint=...;SharedAccessSignature=...`: read-only for the readers (API, scheduler,
# monitor), read + create + write for the consolidator, which alone advances the watermark.
# Neither can list, delete, or reach any other container or service of the account. The
# tokens are signed here (Terraform holds the key) with key1; they are valid for
# sas_validity_days from a start that moves every sas_rotation_days, so an apply after the
# rotation period issues fresh tokens long before the old ones expire.

terraform {
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 3.110"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.11"
    }
  }
}

resource "azurerm_storage_account" "this" {
  name                            = var.account_name
  location                        = var.location
  resource_group_name             = var.resource_group_name
  account_tier                    = "Standard"
  account_replication_type        = var.replication_type
  account_kind                    = "StorageV2"
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  tags                            = var.tags

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = var.retention_days
    }

    container_delete_retention_policy {
      days = var.retention_days
    }
  }
}

resource "azurerm_storage_container" "watermarks" {
  name                  = var.container_name
  storage_account_name  = azurerm_storage_account.this.name
  container_access_type = "private"
}

# Old watermark versions are kept for the retention period, then removed.
resource "azurerm_storage_management_policy" "versions" {
  storage_account_id = azurerm_storage_account.this.id

  rule {
    name    = "expire-old-watermark-versions"
    enabled = true

    filters {
      blob_types   = ["blockBlob"]
      prefix_match = ["${var.container_name}/"]
    }

    actions {
      version {
        delete_after_days_since_creation = var.retention_days
      }
    }
  }
}

# ---- container-scoped SAS for the apps --------------------------------------------------------

# Moves the tokens' start every sas_rotation_days (at the next apply after that).
resource "time_rotating" "sas" {
  rotation_days = var.sas_rotation_days
}

locals {
  # 15 minutes back: clocks of the Storage front ends may be slightly behind ours.
  sas_start  = timeadd(time_rotating.sas.rfc3339, "-15m")
  sas_expiry = timeadd(time_rotating.sas.rfc3339, "${var.sas_validity_days * 24}h")
  sas_access = {
    reader = { create = false, write = false }
    writer = { create = true, write = true }
  }
}

# One token per kind of access: readers (API, scheduler, monitor) read the watermark; the
# writer (the consolidator) also creates and overwrites it. Neither may list or delete.
data "azurerm_storage_account_blob_container_sas" "access" {
  for_each          = local.sas_access
  connection_string = azurerm_storage_account.this.primary_connection_string
  container_name    = azurerm_storage_container.watermarks.name
  https_only        = true
  start             = local.sas_start
  expiry            = local.sas_expiry

  permissions {
    read   = true
    add    = false
    create = each.value.create
    write  = each.value.write
    delete = false
    list   = false
  }
}
